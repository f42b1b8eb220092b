"""A runbook executed step by step: expectations judged on real commands (small Python
programs), failures placed at the right line, ``within`` retried, resolution stopped at its
first failure, human steps reported, recovery and time to resolve measured."""

from __future__ import annotations

import shlex
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.clock import SystemClock
from harness.journal import RunbookRecord
from harness.provision.templates import TemplateContext
from harness.runbooks import parse_runbook
from harness.runbooks.verify import DrillRunner, excerpt

PY = shlex.quote(sys.executable)

RUNBOOK = f"""---
id: demo
title: Demo
severity: P1
owner: oncall
scenarios: [demo]
time_to_resolve: 30m
---

# Demo

## Symptoms

```sh step=broken expect-exit=1 expect-output="DOWN"
{PY} -c "import sys; print('service DOWN'); sys.exit(1)"
```

## Diagnosis

```sh step=list expect-count=">=2" expect-output="evt_"
{PY} -c "import json; print(json.dumps(['evt_1', 'evt_2']))"
```

```text step=ask human
Ask the provider.
```

## Resolution

```sh step=fix expect-output="fixed [1-9]"
{PY} -c "print('fixed 3 things')"
```

```sh step=settled expect-no-output="pending"
{PY} -c "print('all done')"
```

## Rollback

```sh step=check
{PY} -c "print('ok')"
```
"""


def drill(
    tmp_path: Path,
    text: str = RUNBOOK,
    *,
    recovered: bool | list[bool] = True,
    target_s: float = 60.0,
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
) -> DrillRunner:
    path = tmp_path / "demo.md"
    path.write_text(text)
    runbook = parse_runbook(path)
    answers = list(recovered) if isinstance(recovered, list) else None
    origin = time.monotonic()

    def sample() -> tuple[bool, object, str]:
        ok = answers.pop(0) if answers else recovered is True
        return ok, int(ok), f"observed {int(ok)}"

    record = RunbookRecord(str(path), "demo", "P1", "30m", target_s)
    context = TemplateContext({}, {}, str(tmp_path), 1, 1.0, {"token": "t0k"})
    return DrillRunner(
        runbook,
        record,
        env=env or {},
        context=lambda: context,
        recovered=sample,
        recovered_name="healthy",
        interval_s=0.05,
        time_scale=1.0,
        clock=SystemClock(),
        now=lambda: time.monotonic() - origin,
        stop=stop or threading.Event(),
    )


def run_all(d: DrillRunner) -> None:
    d.mark_incident(0.0)
    for phase in ("diagnose", "resolve", "rollback"):
        d.run_phase(phase)
    d.finish()


def test_a_runbook_that_holds_passes_and_reports_its_human_step(tmp_path: Path) -> None:
    d = drill(tmp_path)
    run_all(d)
    rec = d.record
    assert rec.status == "passed", rec.why
    verdicts = {s.id: s.verdict for s in rec.steps}
    assert verdicts == {
        "broken": "passed",
        "list": "passed",
        "ask": "human",
        "fix": "passed",
        "settled": "passed",
        "check": "passed",
    }
    (human,) = rec.human_steps
    assert human.text == "Ask the provider." and human.location.endswith("demo.md:24")
    broken = rec.steps[0]
    assert broken.commands[0].exit_code == 1
    assert broken.commands[0].output == "service DOWN"
    assert broken.commands[0].line == 15 and broken.location.endswith(":14")
    assert broken.expectation == "exit 1, output matches 'DOWN'"
    assert [s.phase for s in rec.steps] == [
        "diagnose",
        "diagnose",
        "diagnose",
        "resolve",
        "resolve",
        "rollback",
    ]
    assert rec.recovered_at_s is not None and rec.time_to_resolve_s is not None
    assert 0 < rec.time_to_resolve_s <= rec.recovered_at_s + 0.001


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        # an expectation about the output fails at the step's fence
        ('expect-count=">=2"', 'expect-count="3"', 20, "expected 3 item(s), got 2"),
        ('expect-output="evt_"', 'expect-output="pay_"', 20, "expected output matching 'pay_'"),
        (
            'step=settled expect-no-output="pending"',
            'step=settled expect-no-output="done"',
            34,
            "output matches 'done' ('done'), expected not to",
        ),
        # an exit code fails at the command's line
        ("step=broken expect-exit=1", "step=broken expect-exit=0", 15, "exited 1, expected 0"),
        # a renamed program is not on PATH
        (
            f"{PY} -c \"print('ok')\"",
            "no-such-tool --check",
            41,
            "'no-such-tool' is not installed or not on PATH",
        ),
    ],
)
def test_a_broken_expectation_fails_at_its_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in RUNBOOK
    d = drill(tmp_path, RUNBOOK.replace(old, new))
    run_all(d)
    assert d.record.status == "failed"
    failed = [s for s in d.record.steps if s.verdict == "failed"]
    assert len(failed) == 1, [(s.id, s.why) for s in failed]
    assert f"demo.md:{line}: step {failed[0].id}: " in failed[0].why
    assert message in failed[0].why
    assert d.record.why == failed[0].why


def test_expect_count_needs_a_json_list(tmp_path: Path) -> None:
    text = RUNBOOK.replace("json.dumps(['evt_1', 'evt_2'])", "'evt_1 evt_2'")
    d = drill(tmp_path, text)
    run_all(d)
    (failed,) = [s for s in d.record.steps if s.verdict == "failed"]
    assert "expect-count needs JSON, got: evt_1 evt_2" in failed.why


def test_a_failed_resolution_step_stops_the_resolution_but_not_the_rollback(
    tmp_path: Path,
) -> None:
    # Not recovered, and the resolution fails: the drill stops waiting for recovery at once
    # (else this test would take the 60 s target).
    d = drill(
        tmp_path,
        RUNBOOK.replace("print('fixed 3 things')", "print('fixed 0 things')"),
        recovered=False,
    )
    run_all(d)
    verdicts = {s.id: (s.verdict, s.why) for s in d.record.steps}
    assert verdicts["fix"][0] == "failed" and "demo.md:30: step fix" in verdicts["fix"][1]
    assert verdicts["settled"] == ("not run", "not run: an earlier resolution step failed")
    assert verdicts["check"][0] == "passed"
    assert d.record.recovered_at_s is None
    assert d.record.status == "failed" and "step fix" in d.record.why


def test_within_retries_until_the_expectation_holds(tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "ok = p.exists(); p.touch(); print('ready' if ok else 'not yet')"
    )
    text = RUNBOOK.replace(
        f'```sh step=settled expect-no-output="pending"\n{PY} -c "print(\'all done\')"',
        f'```sh step=settled expect-output="^ready$" within=20s\n{PY} -c "{script}" {marker}',
    )
    d = drill(tmp_path, text)
    run_all(d)
    settled = next(s for s in d.record.steps if s.id == "settled")
    assert settled.verdict == "passed", settled.why
    assert settled.attempts == 2
    assert settled.commands[0].output == "ready"


def test_within_gives_up_after_its_time_and_says_how_often_it_tried(tmp_path: Path) -> None:
    text = RUNBOOK.replace('expect-output="fixed [1-9]"', 'expect-output="never" within=0.3s')
    d = drill(tmp_path, text)
    run_all(d)
    fix = next(s for s in d.record.steps if s.id == "fix")
    assert fix.verdict == "failed" and fix.attempts >= 2
    assert f"(after {fix.attempts} tries in" in fix.why


def test_recovery_is_the_first_sample_that_holds(tmp_path: Path) -> None:
    d = drill(tmp_path, recovered=[False, False, True])
    run_all(d)
    assert d.record.status == "passed"
    assert d.record.recovery is not None and d.record.recovery.ok


def test_no_recovery_within_the_target_fails(tmp_path: Path) -> None:
    d = drill(tmp_path, recovered=False, target_s=0.2)
    run_all(d)
    assert d.record.status == "failed"
    assert "not recovered within the target 0.2 s (30m, scaled)" in d.record.why
    assert "healthy: observed 0" in d.record.why


def test_recovery_after_the_target_fails_with_the_time_it_took(tmp_path: Path) -> None:
    d = drill(tmp_path, target_s=0.001)
    d.mark_incident(0.0)
    for phase in ("diagnose", "resolve", "rollback"):
        d.run_phase(phase)
    d.finish()
    assert d.record.status == "failed"
    assert "is over the target 0.0 s (30m, scaled)" in d.record.why
    assert d.record.time_to_resolve_s is not None and d.record.time_to_resolve_s > 0.001


def test_commands_get_the_drill_environment_resolved(tmp_path: Path) -> None:
    text = RUNBOOK.replace("print('ok')", "import os; print(os.environ['TOKEN'])")
    text = text.replace("```sh step=check\n", '```sh step=check expect-output="^t0k$"\n')
    d = drill(tmp_path, text, env={"TOKEN": "${vars.token}"})
    run_all(d)
    check = next(s for s in d.record.steps if s.id == "check")
    assert check.verdict == "passed", check.why


def test_an_interrupted_drill_reports_what_never_ran(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()  # Ctrl-C arrived before the drill started
    d = drill(tmp_path, stop=stop)
    run_all(d)
    assert {s.verdict for s in d.record.steps} == {"not run"}
    assert d.record.status == "failed"


def test_excerpt_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    kept = excerpt(text)
    assert kept.startswith("…\n") and kept.endswith("line 99")
    assert "line 79" not in kept and "line 80" in kept
    assert excerpt("short") == "short"


def test_time_to_detect_runs_from_the_incident_to_the_first_detected_sample(
    tmp_path: Path,
) -> None:
    runner = drill(tmp_path)
    answers = [False, False, True]
    runner._detected = lambda: (answers.pop(0), None, "")  # alerts: none, none, one
    runner._interval_s = 0.05
    runner.mark_incident(0.0)
    deadline = time.monotonic() + 5
    while runner.record.time_to_detect_s is None and time.monotonic() < deadline:
        time.sleep(0.01)
    rec = runner.record
    assert rec.detected_at_s is not None and rec.time_to_detect_s == rec.detected_at_s
    assert rec.time_to_detect_s >= 0.1  # two samples failed, 0.05 s apart
    assert answers == []


def test_one_step_on_demand_and_unknown_steps_named(tmp_path: Path) -> None:
    runner = drill(tmp_path)
    rec = runner.run_step("list")
    assert rec.verdict == "passed" and rec.commands[0].exit_code == 0
    with pytest.raises(KeyError, match=r"no step 'lsit' .* \(steps: broken, list, ask, fix"):
        runner.run_step("lsit")


def test_a_game_day_is_decided_by_its_recovery_not_its_steps(tmp_path: Path) -> None:
    runner = drill(tmp_path, target_s=30)
    rec = runner.record
    rec.mode = "gameday"
    rec.recovered_at_s, rec.time_to_resolve_s = 12.0, 12.0
    runner.finish()  # no step ran: people may skip them
    assert (rec.status, rec.why) == ("passed", "")
    rec.time_to_resolve_s = 45.0
    runner.finish()
    assert rec.status == "failed" and "over the target 30.0 s" in rec.why
    rec.recovered_at_s = rec.time_to_resolve_s = None
    rec.ended_by = "aborted by alice"
    runner.finish()
    assert rec.status == "failed" and "not resolved (aborted by alice)" in rec.why


def test_a_runbook_command_reads_the_drills_env_as_a_reader_sees_it(tmp_path: Path) -> None:
    text = RUNBOOK.replace(
        f"""{PY} -c "print('ok')\"""",
        f"""{PY} -c "import sys; print(sys.argv[1:])" $SHOP_URL ${{SHOP_URL}}/health $UNSET""",
    )
    d = drill(tmp_path, text, env={"SHOP_URL": "http://127.0.0.1:${vars.token}"})
    run_all(d)
    check = next(s for s in d.record.steps if s.id == "check")
    assert check.verdict == "passed", check.why
    assert (
        "['http://127.0.0.1:t0k', 'http://127.0.0.1:t0k/health', '$UNSET']"
        in check.commands[0].output
    )


def test_lint_says_why_a_shell_is_refused_and_what_to_do(tmp_path: Path) -> None:
    from harness.runbooks.lint import HelpCache, _check_command

    (problem,) = _check_command("shop orders list --json | jq length", 12, HelpCache(), {})
    assert problem[0] == 12
    assert "| needs a shell, and runbook commands run without a shell" in problem[1]
    assert "expect-output or expect-count" in problem[1]
    (problem,) = _check_command("sh -c 'shop orders list'", 3, HelpCache(), {})
    assert "sh -c runs a shell" in problem[1]
    (problem,) = _check_command("curl $SHOP_URL/health", 4, HelpCache(), {})
    assert "$SHOP_URL in 'curl $SHOP_URL/health' is not in the drill's env" in problem[1]
    (problem,) = _check_command("my-tool --help", 5, HelpCache(), {"PATH": str(tmp_path)})
    assert "'my-tool' is not installed or not on the drill's PATH" in problem[1]
