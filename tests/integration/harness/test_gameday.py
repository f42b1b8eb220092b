"""Game days driven end to end through a pseudo-terminal by a scripted responder, on the real
reference stack: the payment-processing-failure runbook under provider-api-errors' outage, with
time to detect and time to resolve recorded and reported; and an abort that rolls back and
leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.support.processes import alive, descendants

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = "scenarios/provider-api-errors.yaml"


def gameday(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160", "NO_COLOR": "1"}
    return pexpect.spawn(
        sys.executable,
        [
            "-m",
            "harness.cli",
            "gameday",
            SCENARIO,
            "--report-dir",
            str(tmp_path / "reports"),
            "--compress",
            "60",  # the runbook's 30 min target becomes 30 s
            "--responder",
            "alice",
            "--status-every",
            "2",
            "--seed",
            "5",
            *args,
        ],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )


def seen(child: pexpect.spawn, transcript: Path, pattern: str, timeout: float) -> None:
    """Wait until `pattern` is anywhere in what the game day printed so far. The live status is
    printed when it changes, so a line can come before the step the test waits on, and a plain
    `expect` after that step would wait for a line that is never printed again."""
    deadline = time.monotonic() + timeout
    while True:
        child.logfile_read.flush()
        if re.search(pattern, transcript.read_text()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not printed within {timeout} s: {pattern!r}")
        child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.5)  # read on, into the log


def journal(tmp_path: Path) -> dict[str, object]:
    path = next((tmp_path / "reports").glob("run-*/journal.json"))
    result: dict[str, object] = json.loads(path.read_text())
    return result


def test_a_scripted_responder_resolves_the_payment_failure(tmp_path: Path) -> None:
    child = gameday(tmp_path, "--max-duration", "120")
    transcript = tmp_path / "transcript.txt"
    log = transcript.open("w")
    child.logfile_read = log
    try:
        child.expect("Press Enter to inject the fault", timeout=120)  # provisioned, steady
        started = descendants(child.pid)  # the stack it provisioned
        child.sendline("")
        child.expect("fault injected")
        child.sendline("run stuck-orders")
        child.expect("alice: stuck-orders done")
        child.sendline("skip provider-status called the provider instead")
        child.expect("alice: provider-status skipped")
        child.sendline("run dead-letters")  # retried until dead letters show (within 10 s)
        child.expect("alice: dead-letters done", timeout=30)
        seen(child, transcript, "detected at", timeout=30)  # an alert fires
        # The provider's API comes back when the fault's 8 s are over: then the replay.
        over = r"Stripe's API fails every call — \+[\d.]+ s to \+[\d.]+ s, over"
        seen(child, transcript, over, timeout=30)
        child.sendline("as bob")
        child.expect("now at the keyboard: bob")
        child.sendline("exec shop webhooks failures --since 1h --json")
        child.expect(r"\(exit 0\)", timeout=30)
        child.sendline("run replay")  # the incident ends once the replayed events are applied
        child.expect("resolved at", timeout=60)
        child.expect(pexpect.EOF, timeout=120)
    finally:
        child.close(force=True)
        log.close()
    output = transcript.read_text()
    assert child.exitstatus == 0, output[-3000:]
    assert "time to detect" in output and "time to resolve" in output

    run = journal(tmp_path)
    scenario = run["scenarios"][0]  # type: ignore[index]
    drill = scenario["runbook_drill"]
    assert scenario["status"] == "passed", scenario["reason"]
    assert drill["mode"] == "gameday"
    assert drill["responders"] == ["alice", "bob"]
    assert drill["ended_by"] == "recovered"
    assert drill["incident_started_s"] is not None
    assert 0 < drill["time_to_detect_s"] < drill["time_to_resolve_s"] <= drill["target_s"]
    steps = {s["id"]: s for s in drill["steps"]}
    assert (steps["stuck-orders"]["verdict"], steps["stuck-orders"]["marked_by"]) == (
        "done",
        "alice",
    )
    assert steps["stuck-orders"]["commands"][0]["exit_code"] == 0
    assert steps["provider-status"]["verdict"] == "skipped"
    assert steps["provider-status"]["why"] == "called the provider instead"
    assert (steps["replay"]["verdict"], steps["replay"]["marked_by"]) == ("done", "bob")
    assert "replayed 3" in steps["replay"]["commands"][0]["output"]
    assert steps["no-dead-letters"]["verdict"] == "not run"  # nobody ran it: reported as such
    [console] = drill["commands"]
    assert (console["command"], console["by"], console["exit_code"]) == (
        "shop webhooks failures --since 1h --json",
        "bob",
        0,
    )
    # The automated timeline's assertions are not the responders': none was judged.
    assert scenario["assertions"] == []

    report = next((tmp_path / "reports").glob("run-*/report.html")).read_text()
    assert "Game day: Runbook runbooks/payment-processing-failure.md" in report
    assert f"Time to detect: <strong>{drill['time_to_detect_s']:.1f} s" in report
    assert f"Time to resolve: <strong>{drill['time_to_resolve_s']:.1f} s" in report
    assert "Responders: alice, bob" in report and "Steps skipped: provider-status" in report
    junit = next((tmp_path / "reports").glob("run-*/junit.xml")).read_text()
    assert 'name="time to detect"' in junit and "skipped by alice" in junit
    assert started and [pid for pid in started if alive(pid)] == []


def test_abort_mid_drill_rolls_back_and_leaves_nothing_running(tmp_path: Path) -> None:
    child = gameday(tmp_path, "--max-duration", "300")
    try:
        child.expect("Press Enter to inject the fault", timeout=120)
        started = descendants(child.pid)  # the stack it provisioned
        child.sendline("")
        child.expect("fault injected")
        child.expect("detected at", timeout=30)  # the incident is on
        assert started  # the stack is up
        child.sendline("abort")
        child.expect("aborted by alice")
        child.expect(pexpect.EOF, timeout=120)
    finally:
        child.close(force=True)
    assert child.exitstatus == 2
    scenario = journal(tmp_path)["scenarios"][0]  # type: ignore[index]
    assert scenario["status"] == "errored"
    assert "aborted by alice" in scenario["reason"]
    assert scenario["runbook_drill"]["ended_by"] == "aborted by alice"
    fault = next(s for s in scenario["steps"] if s["kind"] == "fault")
    assert fault["ended_s"] is not None  # reverted
    assert scenario["teardown_problems"] == []
    assert started and [pid for pid in started if alive(pid)] == []


def test_a_scenario_without_a_drill_cannot_be_a_game_day(tmp_path: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "harness.cli", "gameday", "scenarios/redis-outage-during-payment.yaml"],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    said = " ".join((child.before or "").split())
    assert (
        "redis-outage-during-payment.yaml: a game day needs a scenario that drills a runbook"
        in said
    )


@pytest.mark.parametrize("line", ["abort", ""])
def test_abort_before_the_fault_injects_nothing(tmp_path: Path, line: str) -> None:
    child = gameday(tmp_path)
    try:
        child.expect("Press Enter to inject the fault", timeout=120)
        started = descendants(child.pid)  # the stack it provisioned
        if line:
            child.sendline(line)
        else:
            child.sendeof()  # the console's input ends: nobody is there to run it
        child.expect(pexpect.EOF, timeout=120)
    finally:
        child.close(force=True)
    assert child.exitstatus == 2
    scenario = journal(tmp_path)["scenarios"][0]  # type: ignore[index]
    assert "before the fault" in scenario["reason"]
    assert not any(s["kind"] == "fault" for s in scenario["steps"])
    assert started and [pid for pid in started if alive(pid)] == []
