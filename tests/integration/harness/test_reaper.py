"""A harness killed with SIGKILL (a CI job past its time limit) leaves nothing running: its reaper
stops the services it started, and if the reaper was killed too, the next run sweeps them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.provision.reaper import GRACE_S, Reaper, sweep_dead_runs
from tests.integration.harness.test_runner import base
from tests.support.processes import alive, descendants

pytestmark = pytest.mark.integration


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def long_run(tmp_path: Path, name: str = "long") -> subprocess.Popen[str]:
    spec: dict[str, Any] = base(tmp_path)
    spec["services"]["db"] = {"kind": "postgres"}  # a server with children of its own
    spec["method"][0]["duration_s"] = 600
    spec["assertions"] = []
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(yaml.safe_dump(spec))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--report-dir",
            str(tmp_path / name),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # only the harness is killed, not a group around it
    )


def provisioned(harness: subprocess.Popen[str], timeout_s: float = 90) -> set[int]:
    """The processes the harness started, once its services and its reaper are all up."""
    deadline = time.monotonic() + timeout_s
    wanted = ("redis-server", "postgres", "toxiproxy", "-I -c")
    while time.monotonic() < deadline:
        started = descendants(harness.pid)
        lines = " | ".join(cmdline(pid) for pid in started)
        if all(w in lines for w in wanted) and harness.poll() is None:
            return started
        time.sleep(0.2)
    raise AssertionError(f"the run did not provision within {timeout_s} s")


def gone(pids: set[int], within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not [pid for pid in pids if alive(pid)]:
            return []
        time.sleep(0.1)
    return [f"{pid}: {cmdline(pid)}" for pid in pids if alive(pid)]


def test_services_die_with_a_harness_killed_with_sigkill(tmp_path: Path) -> None:
    harness = long_run(tmp_path)
    try:
        started = provisioned(harness)
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        assert gone(started, within_s=GRACE_S + 15) == []
    finally:
        if harness.poll() is None:
            harness.kill()


def test_the_next_run_sweeps_what_a_dead_run_and_its_reaper_left(tmp_path: Path) -> None:
    harness = long_run(tmp_path)
    try:
        started = provisioned(harness)
        (reaper,) = [pid for pid in started if "-I -c" in cmdline(pid)]
        os.kill(reaper, signal.SIGKILL)  # the guard dies first: the services are orphaned
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        time.sleep(GRACE_S + 1)
        orphans = {pid for pid in started if alive(pid) and pid != reaper}
        assert orphans, "nothing was left to sweep"

        swept = sweep_dead_runs()  # what the next run does before it starts a service

        assert swept  # the groups of the dead run
        assert gone(orphans, within_s=15) == []
    finally:
        if harness.poll() is None:
            harness.kill()


def test_a_live_harness_keeps_its_services_and_stopping_forgets_them(tmp_path: Path) -> None:
    reaper = Reaper(directory=tmp_path / "ledgers", grace_s=0.5)
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    kept = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        reaper.watch(sleeper.pid)
        reaper.watch(kept.pid)
        reaper.forget(kept.pid)  # stopped by the harness: no longer the reaper's
        assert sweep_dead_runs(tmp_path / "ledgers") == []  # its owner (this process) lives
        assert alive(sleeper.pid)
        reaper.close()  # the pipe ends, as when the harness dies
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
        assert alive(kept.pid)
        assert list((tmp_path / "ledgers").glob("*.groups")) == []
    finally:
        for proc in (sleeper, kept):
            proc.kill()
            proc.wait()


def test_a_command_that_times_out_is_killed_with_its_children(tmp_path: Path) -> None:
    from harness.commands import run_command
    from harness.provision.templates import TemplateContext

    pids = tmp_path / "pids"
    script = f"sleep 600 & echo $! > {pids}; wait"
    context = TemplateContext({}, {}, str(tmp_path), 1, 1.0)
    outcome = run_command(["sh", "-c", script], {}, context, timeout_s=1.0, where="test")
    assert outcome.returncode is None and "still ran after 1 s" in (outcome.error or "")
    child = int(pids.read_text())
    assert gone({child}, within_s=5) == []
