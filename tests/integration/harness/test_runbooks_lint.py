"""Runbooks linted offline: the shipped ones are clean; one broken on purpose (a renamed flag, a
subcommand that does not exist, a missing scenario, a bad front matter, a duplicate step id, a
shell pipe, a missing section) fails at the right line. Commands are checked for real: the
``shop`` CLI answers ``--help``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.runbooks import lint_runbooks, parse_runbook, runbook_files
from harness.runbooks.lint import HelpCache
from harness.runbooks.model import Section
from harness.scenario.loader import load_scenarios
from harness.scenario.model import RunbookDrill

ROOT = Path(__file__).resolve().parents[3]
RUNBOOKS = ROOT / "runbooks"
SCENARIOS = {item.scenario.id: item.scenario for item in load_scenarios([ROOT / "scenarios"])[0]}
HELP = HelpCache()  # real --help answers, asked once per command for the whole module

GOOD = """---
id: demo
title: Demo
severity: P1
owner: oncall
scenarios: [provider-api-errors]
time_to_resolve: 30m
---

# Demo

## Symptoms

```sh step=look expect-output="event_id"
shop webhooks failures --since 1h --json
```

## Diagnosis

```text step=ask human
Ask the provider.
```

## Resolution

```sh step=replay expect-output="replayed"
shop webhooks retry --since 1h --actor oncall
```

## Rollback

```sh step=verify
shop audit verify
```
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.md"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str]]:
    """Lint ``text`` as if it were the runbook that provider-api-errors executes."""
    path = write(tmp_path, text)
    drill = SCENARIOS["provider-api-errors"].runbook
    assert isinstance(drill, RunbookDrill)
    scenarios = {
        **SCENARIOS,
        "provider-api-errors": SCENARIOS["provider-api-errors"].model_copy(
            update={"runbook": drill.model_copy(update={"path": str(path)})}
        ),
    }
    (result,) = lint_runbooks([path], scenarios, root=ROOT, cache=HELP)
    return result.problems


def test_the_shipped_runbooks_are_clean() -> None:
    files = runbook_files([RUNBOOKS])
    assert {f.stem for f in files} >= {
        "audit-tampering",
        "payment-processing-failure",
        "webhook-loop",
        "queue-overload",
        "stock-sync-failure",
        "escalation-policy",
    }
    results = lint_runbooks(files, SCENARIOS, root=ROOT, cache=HELP)
    assert [(r.path, r.problems) for r in results if r.problems] == []
    for result in results:
        assert result.runbook is not None
        for section in Section:
            assert result.runbook.in_section(section), (result.path, section)


def test_a_good_runbook_parses_into_steps(tmp_path: Path) -> None:
    runbook = parse_runbook(write(tmp_path, GOOD))
    assert runbook.front.time_to_resolve_s == 1800
    steps = {s.id: s for s in runbook.steps}
    assert [s.id for s in runbook.steps] == ["look", "ask", "replay", "verify"]
    assert steps["look"].commands == [(15, "shop webhooks failures --since 1h --json")]
    assert steps["look"].expect_output == "event_id"
    assert steps["ask"].kind == "human" and steps["ask"].text == "Ask the provider."
    assert problems(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "failures --since 1h --json",
            "failures --sinse 1h --json",
            15,
            "'shop webhooks failures' has no option --sinse",
        ),
        (
            "retry --since 1h --actor oncall",
            "replay --since 1h",
            27,
            "'shop webhooks' has no command 'replay'",
        ),
        (
            "[provider-api-errors]",
            "[provider-api-errors, no-such-scenario]",
            6,
            "scenario 'no-such-scenario' does not exist",
        ),
        (
            "[provider-api-errors]",
            "[webhook-loop]",
            6,
            "scenario 'webhook-loop' does not verify this runbook "
            "(its runbook: runbooks/webhook-loop.md)",
        ),
        ("shop audit verify", "shop audit verify | tee out.txt", 33, "needs a shell"),
        ("shop audit verify", "shopx audit verify", 33, "'shopx' is not installed or not on PATH"),
    ],
)
def test_drift_fails_at_the_right_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    found = problems(tmp_path, GOOD.replace(old, new))
    assert any(at == line and message in text for at, text in found), found


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("severity: P1", "severity: P7", "front matter severity: Input should be 'P0', 'P1'"),
        ("step=replay", "step=look", "step id 'look' is also used at line 14"),
        ("## Rollback", "## Aftermath", "no '## Rollback' section"),
        ("time_to_resolve: 30m", "time_to_resolve: soon", "'soon' is not a duration"),
        ('expect-output="replayed"', 'expected="replayed"', "unknown fence attribute 'expected'"),
    ],
)
def test_broken_runbooks_name_every_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    found = problems(tmp_path, GOOD.replace(old, new))
    assert any(message in text for _, text in found), found


def lint_cli(path: Path) -> subprocess.CompletedProcess[str]:
    chaosgate = [sys.executable, "-m", "harness.cli"]
    return subprocess.run(
        [*chaosgate, "runbooks", "lint", str(path), "--scenarios", str(ROOT / "scenarios")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
    )


def test_the_cli_lints_and_exits_1_on_drift(tmp_path: Path) -> None:
    clean = lint_cli(RUNBOOKS)
    assert clean.returncode == 0, clean.stderr
    assert "ok   " in clean.stdout
    broken = write(tmp_path, GOOD.replace("--actor oncall", "--who oncall"))
    drift = lint_cli(broken)
    assert drift.returncode == 1
    assert f"{broken}:27: 'shop webhooks retry' has no option --who" in drift.stderr


def test_a_runbook_that_no_scenario_executes_is_not_verified(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    named_only = SCENARIOS["provider-api-errors"].model_copy(update={"runbook": str(path)})
    scenarios = {**SCENARIOS, "provider-api-errors": named_only}
    (result,) = lint_runbooks([path], scenarios, root=ROOT, cache=HELP)
    assert result.problems == [
        (6, "no scenario named here executes this runbook (give one a runbook drill)")
    ]


def test_lint_never_runs_a_program_given_as_an_argument(tmp_path: Path) -> None:
    # 'python3 payload.py --help' would run the payload: lint must ask 'python3 --help' only.
    ran = tmp_path / "ran"
    payload = tmp_path / "payload.py"
    payload.write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    found = problems(tmp_path, GOOD.replace("shop audit verify", f"python3 {payload}"))
    assert not ran.exists(), "lint ran the payload"
    assert not [p for p in found if "python3" in p[1]], found


def test_arguments_after_a_subcommand_are_not_taken_for_commands(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("shop audit verify", "shop queue scale orders 2"))
    assert found == []
