"""``chaosgate init`` for a service this project did not write (a small write store over Redis,
run from its own file), then ``chaosgate run`` of exactly what it wrote, on real Redis, Toxiproxy
and Locust: it passes; and the same scaffold catches the service when it drops acknowledged
writes. (The same walk-through against Kinto runs in ``nox -s example``, from the README.)"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.apps import REDIS_WRITES_APP


def chaosgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def scaffold(tmp_path: Path, *extra: str) -> None:
    (tmp_path / "app.py").write_text(REDIS_WRITES_APP)
    done = chaosgate(
        tmp_path,
        "init",
        "--no-input",
        "--name",
        "writes",
        "--command",
        f"{shlex.quote(sys.executable)} app.py {{port}}",
        "--health",
        "/health",
        "--redis",
        "CG_REDIS",
        "--write",
        "/writes",
        "--read",
        "/writes/{key}",
        *extra,
    )
    assert done.returncode == 0, done.stderr
    lint = chaosgate(tmp_path, "runbooks", "lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def scenario(tmp_path: Path) -> dict[str, Any]:
    path = next((tmp_path / "reports").glob("run-*/journal.json"))
    record: dict[str, Any] = json.loads(path.read_text())["scenarios"][0]
    return record


def test_what_init_writes_runs_as_written_and_passes(tmp_path: Path) -> None:
    scaffold(tmp_path)
    run = chaosgate(tmp_path, "run", "--seed", "4", "--report-dir", "reports")
    record = scenario(tmp_path)
    assert run.returncode == 0, (record["status"], record["reason"], run.stdout[-2000:])
    faults = [s["name"] for s in record["steps"] if s["kind"] == "fault"]
    assert faults == ["Redis (cache) slow (300 ms)", "Redis (cache) unreachable"]
    [invariant] = record["invariants"]
    assert invariant["status"] == "passed"
    acknowledged = int(invariant["summary"].split()[0])
    assert acknowledged > 20  # 2 writers at 5/s for 11 s, less what the outage refused
    drill = record["runbook_drill"]
    steps = {s["id"]: s["verdict"] for s in drill["steps"]}
    assert steps["healthy-again"] == "passed" and steps["alerted"] == "human"
    assert drill["status"] == "passed"
    assert drill["time_to_resolve_s"] <= drill["target_s"]


def test_the_scaffold_catches_a_service_that_drops_acknowledged_writes(tmp_path: Path) -> None:
    scaffold(tmp_path, "--env", "CG_DROP_EVERY=5")  # every fifth write acknowledged, not kept
    run = chaosgate(tmp_path, "run", "--seed", "4", "--report-dir", "reports")
    assert run.returncode == 1, run.stdout[-2000:]
    [invariant] = scenario(tmp_path)["invariants"]
    assert invariant["status"] == "failed"
    assert "acknowledged, but not there (lost)" in " ".join(invariant["violations"])
