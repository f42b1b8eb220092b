"""The engine end to end on a tiny real system: an HTTP app that needs Redis through a Toxiproxy
proxy. A scenario that holds passes; one whose promise breaks fails and says why; one that cannot
run errors; faults are shown to fire; everything is reverted and stopped in every case."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import EXIT_ERRORED, EXIT_FAILED, app
from harness.clock import SystemClock
from harness.journal import ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.provision.process import ManagedProcess
from harness.run import ScenarioInterrupted, ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario
from tests.support.apps import REDIS_HEALTH_APP
from tests.support.processes import alive, descendants, left_running

PY = sys.executable
APP = REDIS_HEALTH_APP


def base(tmp_path: Path) -> dict[str, Any]:
    return {
        "id": "redis-outage",
        "title": "The app reports Redis outages and recovers",
        "services": {
            "redis": {"kind": "redis"},
            "toxiproxy": {"kind": "toxiproxy"},
            "app": {
                "command": [PY, "-c", APP, "${services.app.port}"],
                "env": {"CG_REDIS": "${proxies.cache.url}"},
                "ready": {"http": "/"},
            },
        },
        "proxies": {"cache": {"upstream": "redis"}},
        "steady_state": [
            {
                "name": "app healthy",
                "probe": {"type": "http", "service": "app"},
                "expect": {"equals": 200},
            },
        ],
        "method": [
            {
                "name": "redis unreachable",
                "at_s": 0,
                "duration_s": 1.5,
                "fault": {"type": "proxy_down", "proxy": "cache"},
            },
        ],
        "assertions": [
            {
                "name": "outage is reported",
                "type": "always",
                "from_s": 0.3,
                "until_s": 1.2,
                "interval_s": 0.2,
                "check": {
                    "name": "503",
                    "probe": {"type": "http", "service": "app"},
                    "expect": {"equals": 503},
                },
            },
            {
                "name": "recovers",
                "type": "eventually",
                "from_s": 1.6,
                "within_s": 6,
                "interval_s": 0.2,
                "check": {
                    "name": "200",
                    "probe": {"type": "http", "service": "app"},
                    "expect": {"equals": 200},
                },
            },
        ],
        "rollbacks": [
            {
                "type": "command",
                "command": [PY, "-c", f"open({str(tmp_path / 'rolled-back')!r}, 'w')"],
            },
        ],
    }


def run(spec: dict[str, Any], tmp_path: Path, **kwargs: Any) -> ScenarioRecord:
    scenario = Scenario.model_validate(spec)
    runner = ScenarioRunner(LocalProvisioner(), seed=1, time_scale=1.0, **kwargs)
    return runner.run(LoadedScenario(tmp_path / "s.yaml", scenario), tmp_path / "run")


def test_a_scenario_that_holds_passes(tmp_path: Path, spawned: list[ManagedProcess]) -> None:
    record = run(base(tmp_path), tmp_path)
    assert record.status == "passed", record.reason
    fault = record.steps[0]
    assert (fault.kind, fault.fired, fault.ended_s is not None) == ("fault", True, True)
    outage, recovery = record.assertions
    assert outage.status == "passed" and outage.samples >= 3
    assert recovery.status == "passed" and recovery.observed == 200
    assert [c.ok for c in record.steady_state_after] == [True]
    assert (tmp_path / "rolled-back").exists()
    assert len(spawned) == 3 and left_running(spawned) == []


def test_a_broken_promise_fails_and_says_why(tmp_path: Path) -> None:
    spec = base(tmp_path)
    # Sabotage: claim the app stays healthy while Redis is unreachable.
    spec["assertions"][0]["check"]["expect"] = {"equals": 200}
    record = run(spec, tmp_path)
    assert record.status == "failed"
    assert "outage is reported" in record.reason
    assert "observed 503, expected 200" in record.reason
    assert (tmp_path / "rolled-back").exists()


def test_steady_state_not_met_is_an_error_and_still_tears_down(
    tmp_path: Path, spawned: list[ManagedProcess]
) -> None:
    spec = base(tmp_path)
    spec["steady_state"][0]["expect"] = {"equals": 418}
    record = run(spec, tmp_path)
    assert record.status == "errored"
    assert "steady state not met before the method: app healthy" in record.reason
    assert record.steps == []
    assert spawned and left_running(spawned) == []


class InterruptedClock(SystemClock):
    """The real clock, but Ctrl-C arrives at the ``at``-th sleep of the timeline (after
    ``wait_s`` more seconds)."""

    def __init__(self, at: int, wait_s: float = 0.0) -> None:
        self.calls, self.at, self.wait_s = 0, at, wait_s

    def sleep(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == self.at:
            super().sleep(self.wait_s)
            raise KeyboardInterrupt
        super().sleep(min(seconds, 1))


def test_ctrl_c_mid_method_reverts_faults_and_stops_everything(
    tmp_path: Path, spawned: list[ManagedProcess]
) -> None:
    with pytest.raises(KeyboardInterrupt):
        run(base(tmp_path), tmp_path, clock=InterruptedClock(at=3))
    assert spawned and left_running(spawned) == []
    assert (tmp_path / "rolled-back").exists()


def test_process_faults_fire(tmp_path: Path) -> None:
    spec = base(tmp_path)
    spec["services"]["sleeper"] = {"command": [PY, "-c", "import time; time.sleep(120)"]}
    spec["method"] = [
        {
            "name": "pause app",
            "at_s": 0,
            "duration_s": 0.5,
            "fault": {"type": "pause", "service": "app"},
        },
        {
            "name": "kill sleeper",
            "at_s": 0.1,
            "duration_s": 0.3,
            "fault": {"type": "kill", "service": "sleeper"},
        },
        {
            "name": "stop sleeper",
            "at_s": 0.6,
            "duration_s": 0.3,
            "fault": {"type": "stop", "service": "sleeper"},
        },
        {
            "name": "restart sleeper",
            "at_s": 1.2,
            "fault": {"type": "restart", "service": "sleeper"},
        },
    ]
    spec["assertions"] = []
    record = run(spec, tmp_path)
    assert record.status == "passed", record.reason
    pause, kill, stop, restart = record.steps
    assert pause.fired and "'T'" in pause.evidence[0]
    assert "continued" in pause.evidence[-1]
    assert kill.fired and "exited with -9" in kill.evidence[0]
    assert "sleeper started again as pid" in kill.evidence[-1]  # at the end of its duration
    assert stop.fired and "stopped, exit code -15" in stop.evidence[0]  # SIGTERM, gracefully
    assert "sleeper started again as pid" in stop.evidence[-1]  # at the end of its duration
    assert restart.fired and " -> sleeper started again as pid" in restart.evidence[0]


def test_a_fault_on_a_service_already_down_did_not_fire(tmp_path: Path) -> None:
    spec = base(tmp_path)
    spec["services"]["sleeper"] = {"command": [PY, "-c", "import time; time.sleep(120)"]}
    spec["method"] = [
        {"name": "kill sleeper", "at_s": 0, "fault": {"type": "kill", "service": "sleeper"}},
        {"name": "stop it too", "at_s": 0.2, "fault": {"type": "stop", "service": "sleeper"}},
    ]
    spec["assertions"] = []
    record = run(spec, tmp_path)
    kill, stop = record.steps
    assert kill.fired
    assert stop.fired is False and "was not running (exit code -9)" in stop.evidence[0]
    assert record.status == "failed" and "stop it too" in (record.reason or "")


def test_cli_run_writes_the_journal_and_sets_the_exit_code(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(base(tmp_path)))
    bad_spec = base(tmp_path)
    bad_spec["id"] = "redis-outage-sabotaged"
    bad_spec["assertions"][0]["check"]["expect"] = {"equals": 200}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_spec))
    reports = tmp_path / "reports"

    result = CliRunner().invoke(
        app, ["run", str(good), "--seed", "7", "--report-dir", str(reports)]
    )
    assert result.exit_code == 0, result.output
    journal = json.loads(next(reports.glob("run-*/journal.json")).read_text())
    assert (journal["status"], journal["seed"]) == ("passed", 7)
    assert journal["scenarios"][0]["assertions"][0]["samples"] >= 3

    result = CliRunner().invoke(
        app,
        [
            "run",
            str(good),
            str(bad),
            "--report-dir",
            str(reports),
            "--only",
            "redis-outage-sabotaged",
        ],
    )
    assert result.exit_code == EXIT_FAILED, result.output
    assert "observed 503" in " ".join(result.output.split())

    unknown = CliRunner().invoke(app, ["run", str(good), "--only", "nope"])
    assert unknown.exit_code == EXIT_ERRORED


LOCUSTFILE = Path(__file__).with_name("locust_ping.py")


@pytest.mark.parametrize(("target", "status"), [(8, "passed"), (200, "failed")])
def test_locust_load_runs_in_its_own_process_and_is_checked(
    tmp_path: Path, target: float, status: str
) -> None:
    spec = base(tmp_path)
    spec["method"] = [
        {
            "name": "ping load",
            "at_s": 0,
            "duration_s": 3,
            "load": {
                "type": "locust",
                "service": "app",
                "locustfile": str(LOCUSTFILE),
                "users": 2,
                "spawn_rate": 2,
                "env": {"CG_RPS_PER_USER": "5"},
                "target_rps": target,
                "tolerance": 0.3,
            },
        },
    ]
    spec["assertions"] = []
    record = run(spec, tmp_path)
    assert record.status == status, record.reason
    load = record.steps[0]
    assert load.kind == "load"
    assert "requests, 0 failed" in load.evidence[0]
    # Locust's own stats history (a real Locust wrote it) becomes the report's series.
    series = {m.name: m for m in record.metrics if m.source == "load: ping load"}
    assert {"requests/s", "p50 latency (ms)"} <= set(series)
    rates = series["requests/s"].points
    assert rates and all(0 <= at <= record.duration_s + 1 for at, _ in rates)
    if status == "failed":
        assert "load 'ping load' fell short" in record.reason
        assert "target 200 req/s" in record.reason


def test_sigterm_to_chaosgate_run_leaves_nothing_behind(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    spec = base(tmp_path)
    spec["method"][0]["duration_s"] = 60  # long enough to be interrupted mid-fault
    spec["assertions"] = []
    scenario_file = tmp_path / "long.yaml"
    scenario_file.write_text(yaml.safe_dump(spec))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario_file),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    started: set[int] = set()
    while len(started) < 3 and time.monotonic() < deadline:  # redis, toxiproxy, the app
        started |= descendants(proc.pid)
        time.sleep(0.2)
    time.sleep(3)  # let the method start
    started |= descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_ERRORED, output
    assert "interrupted: faults reverted, rollbacks run, services stopped" in output
    assert len(started) >= 3 and [pid for pid in started if alive(pid)] == []
    assert (tmp_path / "rolled-back").exists()
    journal = json.loads(next((tmp_path / "reports").glob("run-*/journal.json")).read_text())
    assert journal["scenarios"][0]["reason"] == "interrupted (Ctrl-C); rolled back"


def test_a_load_step_cut_short_stops_locust_at_once(tmp_path: Path) -> None:
    import time

    spec = base(tmp_path)
    spec["method"] = [
        {
            "name": "long ping load",
            "at_s": 0,
            "duration_s": 120,
            "load": {"type": "locust", "service": "app", "locustfile": str(LOCUSTFILE)},
        },
    ]
    spec["assertions"] = []
    started = time.monotonic()
    with pytest.raises(ScenarioInterrupted) as stopped:
        run(spec, tmp_path, clock=InterruptedClock(at=2, wait_s=3))
    # Not the 120 s of the step (nor its 30 s grace): Locust was stopped when rolled back.
    assert time.monotonic() - started < 60
    load = stopped.value.record.steps[0]
    assert load.kind == "load" and load.ended_s is not None
    assert "requests" in load.evidence[0]  # Locust still wrote the stats of what it did


def test_a_load_shape_runs_its_stages(tmp_path: Path) -> None:
    spec = base(tmp_path)
    spec["method"] = [
        {
            "name": "spike",
            "at_s": 0,
            "duration_s": 4,
            "load": {
                "type": "locust",
                "service": "app",
                "locustfile": str(LOCUSTFILE),
                "env": {"CG_RPS_PER_USER": "5"},
                "shape": [
                    {"duration_s": 2, "users": 1, "spawn_rate": 10},
                    {"duration_s": 2, "users": 4, "spawn_rate": 10},
                ],
            },
        },
    ]
    spec["assertions"] = []
    record = run(spec, tmp_path)
    assert record.status == "passed", record.reason
    load = record.steps[0]
    assert "2 stage(s) up to 4 user(s)" in load.detail
    log = (tmp_path / "run" / "load" / "step_0" / "locust.log").read_text()
    assert "Shape test updating to 1 users" in log
    assert "Shape test updating to 4 users" in log


WEBHOOK_APP = textwrap.dedent(
    """\
    import http.server, json, os, sys, redis
    client = redis.Redis.from_url(os.environ["CG_REDIS"])
    mode = os.environ.get("CG_MODE", "once")
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["id"]
            if mode == "twice" or client.sadd("seen", event):
                if not (mode == "lose" and event.endswith(("0", "1", "2", "3"))):
                    client.rpush("effects", event)
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def webhook_spec(mode: str) -> dict[str, Any]:
    effects = {"type": "redis", "service": "redis", "command": ["LRANGE", "effects", "0", "-1"]}
    return {
        "id": f"exactly-once-{mode}",
        "title": "Each delivered event has one effect",
        "services": {
            "redis": {"kind": "redis"},
            "app": {
                "command": [PY, "-c", WEBHOOK_APP, "${services.app.port}"],
                "env": {"CG_REDIS": "${services.redis.url}", "CG_MODE": mode},
                "ready": {"tcp": True},
            },
        },
        "method": [
            {
                "name": "retried deliveries",
                "action": {
                    "type": "webhooks",
                    "service": "app",
                    "secret": "whsec_x",
                    "copies": 3,
                    "resign": True,
                    "shuffle": True,
                    "burst": 4,
                    "pace_s": 0.05,
                    "events": [
                        {"type": "payment_intent.succeeded", "object": {"n": i}} for i in range(8)
                    ],
                },
            }
        ],
        "invariants": [
            {
                "name": "one effect per event",
                "type": "exactly_once",
                "effects": effects,
                "within_s": 2,
            },
            {"name": "no doubled effect", "type": "unique", "probe": effects},
        ],
    }


@pytest.mark.parametrize(
    ("mode", "broken"), [("once", None), ("twice", "doubled"), ("lose", "(lost)")]
)
def test_invariants_are_checked_against_the_delivery_history(
    tmp_path: Path, mode: str, broken: str | None
) -> None:
    record = run(webhook_spec(mode), tmp_path)
    deliveries = record.steps[0].history
    assert len(deliveries) == 24 and {d["status"] for d in deliveries} == {200}
    exactly_once, unique = record.invariants
    if broken is None:
        assert record.status == "passed", record.reason
        assert exactly_once.summary.startswith("8 acknowledged event(s): 8 with one effect")
        assert unique.status == "passed"
    else:
        assert record.status == "failed"
        assert "invariant 'one effect per event' (exactly_once) broken" in record.reason
        assert broken in record.reason
        assert exactly_once.violations and exactly_once.status == "failed"


def test_the_same_seed_delivers_the_same_events_in_the_same_order(tmp_path: Path) -> None:
    first = run(webhook_spec("once"), tmp_path / "a").steps[0].history
    second = run(webhook_spec("once"), tmp_path / "b").steps[0].history
    key = [(d["event_id"], d["attempt"], d["kind"]) for d in first]
    assert key == [(d["event_id"], d["attempt"], d["kind"]) for d in second]
