"""The run as it shows on a terminal: the live progress while scenarios run, and the summary
tables at the end (scenarios, runbook drills, human steps)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from harness.journal import RunRecord

__all__ = ["progress", "summary"]

_COLOURS = {"passed": "green", "failed": "red", "errored": "yellow"}


def progress(console: Console, *, live: bool) -> Progress:
    """A progress bar over the scenarios; ``live=False`` (a game day's console takes input)
    draws none."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),  # scenario text, not styles
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not live,
    )


def summary(record: RunRecord, console: Console) -> None:
    """The scenarios' verdicts, the drills' times, the human steps, the run's result."""
    table = Table("scenario", "status", "seconds", "reason")
    for s in record.scenarios:
        table.add_row(
            Text(s.id),
            Text(s.status, style=_COLOURS[s.status]),
            f"{s.duration_s:.1f}",
            Text(s.reason or ""),
        )
    console.print(table)
    drills = [(s.id, s.runbook_drill) for s in record.scenarios if s.runbook_drill is not None]
    if drills:
        runbooks = Table(
            "scenario", "runbook", "status", "steps", "time to detect", "time to resolve", "target"
        )
        for scenario_id, drill in drills:
            verdicts = [step.verdict for step in drill.steps]
            counts = ", ".join(
                f"{verdicts.count(v)} {v}"
                for v in ("passed", "done", "failed", "human", "skipped", "not run")
                if v in verdicts
            )
            ttd = f"{drill.time_to_detect_s:.1f} s" if drill.time_to_detect_s is not None else "-"
            ttr = f"{drill.time_to_resolve_s:.1f} s" if drill.time_to_resolve_s is not None else "-"
            runbooks.add_row(
                Text(scenario_id),
                Text(drill.path),
                Text(drill.status, style=_COLOURS.get(drill.status, "yellow")),
                counts,
                ttd,
                ttr,
                f"{drill.target_s:.1f} s ({drill.target})",
            )
        console.print(runbooks)
        for _scenario_id, drill in drills:
            for step in drill.human_steps:
                console.print(
                    f"human step (reported, not run): {step.location} {step.id} — "
                    f"{' '.join(step.text.split())[:100]}",
                    highlight=False,
                    markup=False,
                )
    console.print(f"result: {record.status}", highlight=False, markup=False)
