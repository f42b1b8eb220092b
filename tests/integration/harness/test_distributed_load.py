"""A load step in Locust's own master/worker mode on real processes: two local workers share the
users, the master's stats, charts and achieved-rate gate cover both, and the history of
operations holds every request of each; a worker killed mid-step errors the scenario by name
instead of being averaged away."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.journal import ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario
from tests.support.apps import REDIS_WRITES_APP

LOCUSTFILE = Path(__file__).with_name("locust_workers.py")


def spec(**env: str) -> dict[str, Any]:
    return {
        "id": "distributed",
        "title": "writes from two Locust workers",
        "services": {
            "redis": {"kind": "redis"},
            "app": {
                "command": [sys.executable, "-c", REDIS_WRITES_APP, "${services.app.port}"],
                "env": {"CG_REDIS": "${services.redis.url}"},
                "ready": {"http": "/health"},
            },
        },
        "method": [
            {
                "name": "writers",
                "at_s": 0,
                "duration_s": 6,
                "load": {
                    "type": "locust",
                    "service": "app",
                    "locustfile": str(LOCUSTFILE),
                    "users": 4,
                    "spawn_rate": 4,
                    "workers": 2,
                    "target_rps": 16,
                    "tolerance": 0.5,
                    "env": {"CG_RPS_PER_USER": "4", **env},
                    "history": {"json_path": "id"},
                },
            }
        ],
        "invariants": [
            {
                "name": "every acknowledged write is there",
                "type": "acknowledged",
                "steps": ["writers"],
                "present": {
                    "type": "http",
                    "service": "app",
                    "path": "/writes",
                    "json_path": "ids",
                },
                "unique": True,
            }
        ],
    }


def run(data: dict[str, Any], tmp_path: Path) -> ScenarioRecord:
    runner = ScenarioRunner(LocalProvisioner(), seed=3, time_scale=1.0)
    return runner.run(
        LoadedScenario(tmp_path / "d.yaml", Scenario.model_validate(data)), tmp_path / "run"
    )


def test_two_local_workers_share_the_load_and_are_counted_together(tmp_path: Path) -> None:
    record = run(spec(), tmp_path)
    assert record.status == "passed", record.reason
    load = record.steps[0]
    assert "on 2 worker(s)" in load.detail
    assert "2 of 2 worker(s) connected" in load.evidence
    assert load.fired  # the aggregate achieved rate met the gate
    out = tmp_path / "run" / "load"
    [step_dir] = list(out.iterdir())
    per_worker = [len((step_dir / f"history-{i}.jsonl").read_text().splitlines()) for i in (1, 2)]
    assert all(n > 10 for n in per_worker), per_worker  # both workers sent requests
    assert len(load.history) == sum(per_worker)
    requests = int(load.evidence[0].split()[0])  # the master's aggregate over both
    assert requests == sum(per_worker)
    charted = {m.name: m.points for m in record.metrics if m.source == "load: writers"}
    assert {"requests/s", "p50 latency (ms)"} <= charted.keys()
    # each worker charted on its own, as the master received its reports
    for name in ("requests/s worker 1", "requests/s worker 2"):
        assert any(value > 0 for _, value in charted[name]), (name, charted[name])
    [shares] = [e for e in load.evidence if e.startswith("requests reported per worker: ")]
    reported = dict(part.split(": ") for part in shares.split(": ", 1)[1].split(", "))
    assert sorted(reported) == ["1", "2"]
    assert sum(int(n) for n in reported.values()) == requests  # every report, none averaged
    (invariant,) = record.invariants
    assert invariant.status == "passed"


def test_a_worker_killed_mid_step_errors_the_scenario_by_name(tmp_path: Path) -> None:
    record = run(spec(CG_DIE_IN="history-2.jsonl", CG_DIE_AFTER="5"), tmp_path)
    assert record.status == "errored", record.reason
    assert "Locust worker 2 (exit -9) of 2 died before the step ended" in record.reason
    load = record.steps[0]
    assert load.history  # what the workers did send is still recorded
