"""The terminal shows what scenarios and systems said as it is: square brackets in a reason
("[redacted]", "chaosgate[postgres]", a stray "[/]") are text, not rich markup that eats them or
raises."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness import cli
from harness.journal import RunRecord, ScenarioRecord
from harness.report.console import progress, summary

SAID = "token [redacted]; pip install 'chaosgate[postgres]' [/] [bold]not bold[/bold]"


@pytest.mark.parametrize("markup", [True, False])
def test_a_reason_with_brackets_is_shown_as_it_is(markup: bool) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, markup=markup, color_system=None)
    record = RunRecord(seed=1, time_scale=1.0, started_at=0.0, environment="local")
    record.scenarios.append(ScenarioRecord("s[1]", "t", "f", None, "errored", reason=SAID))
    summary(record, console)
    out = " ".join(buffer.getvalue().split())
    assert SAID in out
    assert "s[1]" in out


def test_the_clis_consoles_and_the_progress_lines_take_no_markup() -> None:
    for console in (cli.out, cli.err):
        with console.capture() as captured:
            console.print(f"  {SAID}", highlight=False)
        assert SAID in captured.get()
    buffer = io.StringIO()
    bar = progress(Console(file=buffer, width=400, force_terminal=True), live=True)
    with bar:
        bar.add_task(SAID, total=None)
        bar.refresh()
    assert "chaosgate[postgres]" in buffer.getvalue()
