"""Histories of operations on a real system: every request of a real Locust load recorded with
the key the system acknowledged, and the acknowledged invariant judging them against what the
system still has — passing when nothing is lost, naming the lost keys when writes are dropped."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness.journal import ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario
from tests.support.apps import REDIS_WRITES_APP

LOCUSTFILE = Path(__file__).with_name("locust_writes.py")


def spec(drop_every: int = 0) -> dict[str, Any]:
    return {
        "id": "writes",
        "title": "acknowledged writes survive a Redis blip",
        "services": {
            "redis": {"kind": "redis"},
            "toxiproxy": {"kind": "toxiproxy"},
            "app": {
                "command": [sys.executable, "-c", REDIS_WRITES_APP, "${services.app.port}"],
                "env": {"CG_REDIS": "${proxies.cache.url}", "CG_DROP_EVERY": str(drop_every)},
                "ready": {"http": "/writes"},
            },
        },
        "proxies": {"cache": {"upstream": "redis"}},
        "method": [
            {
                "name": "writers",
                "at_s": 0,
                "duration_s": 4,
                "load": {
                    "type": "locust",
                    "service": "app",
                    "locustfile": str(LOCUSTFILE),
                    "users": 2,
                    "spawn_rate": 2,
                    "env": {"CG_RPS_PER_USER": "10"},
                    "history": {"json_path": "id"},
                },
            },
            {
                "name": "Redis unreachable",
                "at_s": 1.5,
                "duration_s": 1,
                "fault": {"type": "proxy_down", "proxy": "cache"},
            },
        ],
        "invariants": [
            {
                "name": "every acknowledged write is still there",
                "type": "acknowledged",
                "steps": ["writers"],
                "present": {
                    "type": "http",
                    "service": "app",
                    "path": "/writes",
                    "json_path": "ids",
                },
                "unique": True,
                "within_s": 2,
            }
        ],
    }


def run(data: dict[str, Any], tmp_path: Path) -> ScenarioRecord:
    runner = ScenarioRunner(LocalProvisioner(), seed=3, time_scale=1.0)
    scenario = Scenario.model_validate(data)
    return runner.run(LoadedScenario(tmp_path / "w.yaml", scenario), tmp_path / "run")


def test_every_acknowledged_write_of_a_locust_load_is_found(tmp_path: Path) -> None:
    record = run(spec(), tmp_path)
    assert record.status == "passed", record.reason
    load = record.steps[0]
    results = {e["result"] for e in load.history}
    assert results == {"ok", "info"}  # acknowledged writes, and 503s while Redis was cut
    assert all(e["key"] is not None for e in load.history if e["result"] == "ok")
    assert all(0 <= e["invoke_s"] <= e["complete_s"] for e in load.history)
    (invariant,) = record.invariants
    assert "acknowledged key(s)" in invariant.summary and "0 refused" in invariant.summary
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == load.history_count > 20
    assert json.loads(lines[0])["step"] == "writers"


def test_writes_the_system_dropped_are_named(tmp_path: Path) -> None:
    record = run(spec(drop_every=5), tmp_path)
    assert record.status == "failed"
    assert "invariant 'every acknowledged write is still there' (acknowledged) broken" in (
        record.reason
    )
    assert "acknowledged, but not there (lost): 5, 10, 15" in record.reason
