"""Reports rendered from a run's journal: ``report.html`` (self-contained), ``junit.xml``, and the
``index.html`` of a report directory. The journal (``journal.json``) is the source of truth;
``chaosgate report`` renders again from it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.journal import ScenarioRecord
from harness.report.formats import FORMATS, OUTSIDE
from harness.report.formats.html import read_journal, render_index, render_run
from harness.report.formats.junit import render_junit
from harness.report.redact import Redactor

__all__ = [
    "FORMATS",
    "OUTSIDE",
    "NotAJournal",
    "Redactor",
    "find_journals",
    "load_journal",
    "read_journal",
    "relative_logs",
    "render_again",
    "render_index",
    "render_junit",
    "render_run",
    "write_index",
    "write_reports",
]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def relative_logs(scenario: ScenarioRecord, run_dir: Path) -> None:
    """Service log paths relative to the run directory, so a report directory can move."""
    scenario.services = {n: _inside(p, run_dir) for n, p in scenario.services.items()}


def _inside(path: str, run_dir: Path) -> str:
    """``path`` relative to ``run_dir`` when it is in it (relative or absolute), else as is."""
    rel = os.path.relpath(Path(path).absolute(), run_dir.absolute())
    return path if rel.startswith("..") else rel


def load_journal(path: Path) -> dict[str, Any]:
    """A journal ready to render: its service log paths resolved against its directory. A log
    path that leads out of the run's directory (``../../etc/passwd`` in a crafted journal) is
    not read: the report says so instead of embedding the file."""
    journal = read_journal(path)
    base = path.parent.resolve()
    for scenario in journal.get("scenarios", []):
        services = scenario.get("services", {})
        scenario["services"] = {
            name: str(log) if log.is_relative_to(base) else OUTSIDE + str(log_path)
            for name, log_path in (services.items() if isinstance(services, dict) else [])
            for log in [(base / str(log_path)).resolve()]
        }
    return journal


def write_reports(journal_path: Path, out_dir: Path | None = None) -> tuple[Path, ...]:
    """Every format's report of one journal (``report.html``, ``junit.xml``), beside it or in
    ``out_dir``; their paths, in the order of :data:`FORMATS`' names."""
    journal = load_journal(journal_path)
    out = out_dir or journal_path.parent
    written = []
    for name in FORMATS:
        report = FORMATS.get_kind(name)
        path = out / report.filename
        _write(path, report.render(journal))
        written.append(path)
    return tuple(written)


def find_journals(paths: list[Path]) -> list[Path]:
    """Journals named, in run directories named, or in report directories named."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif (path / "journal.json").is_file():
            found.append(path / "journal.json")
        elif path.is_dir():
            found.extend(sorted(path.glob("*/journal.json")))
    return found


def write_index(report_dir: Path) -> Path:
    """``index.html`` of every run under ``report_dir`` (each ``*/journal.json``); journals
    that do not parse are left out."""
    runs = []
    for journal in sorted(report_dir.glob("*/journal.json")):
        try:
            data = read_journal(journal)
        except (OSError, ValueError):
            continue
        href = f"{journal.parent.name}/report.html"
        runs.append((href, data))
    index = report_dir / "index.html"
    _write(index, render_index(runs))
    return index


class NotAJournal(ValueError):
    """A file given as a journal is not one (``chaosgate report`` exits 2 naming it)."""


def render_again(
    journals: list[Path], out_dir: Path | None = None
) -> Iterator[tuple[Path, tuple[Path, ...]]]:
    """Every report of each journal again (beside it, or in ``out_dir/<run>/`` with a copy of
    the journal, which the index reads), then the index of each report directory; yields each
    journal and what it wrote (the index last, with its directory as the journal).

    Raises:
        NotAJournal: naming the file that is not a chaosgate journal.
    """
    indexes: set[Path] = set()
    for journal in journals:
        target = out_dir / journal.parent.name if out_dir is not None else None
        try:
            written = write_reports(journal, target)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotAJournal(f"{journal}: not a chaosgate journal ({exc})") from None
        if target is not None and (target / "journal.json").resolve() != journal.resolve():
            (target / "journal.json").write_text(journal.read_text())
        indexes.add(out_dir if out_dir is not None else journal.parent.parent)
        yield journal, written
    for directory in sorted(indexes):
        yield directory, (write_index(directory),)
