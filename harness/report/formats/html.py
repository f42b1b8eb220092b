"""The HTML report of a run, rendered from its journal, and the index of the runs in a report
directory. One self-contained file each: inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from harness.report import svg
from harness.report.formats import FORMATS, Format

__all__ = ["LOG_TAIL_BYTES", "render_index", "render_run"]

LOG_TAIL_BYTES = 12_000  # of each service's log, embedded collapsed

_env = Environment(
    loader=PackageLoader("harness.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts or 0))


def _svg(text: str) -> Markup:
    """Charts from harness.report.svg: every text in them is escaped there."""
    return Markup(text)  # noqa: S704


def _short_json(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_env.filters["tojson_short"] = _short_json


def _log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            tail = f.read().decode(errors="replace")
    except OSError as exc:
        return f"(log not readable: {exc.strerror})"
    if size > LOG_TAIL_BYTES:
        tail = f"… ({size - LOG_TAIL_BYTES} earlier bytes not shown)\n" + tail.split("\n", 1)[-1]
    return tail


def _bands(scenario: dict[str, Any], end: float) -> list[svg.Band]:
    return [
        svg.Band(step["name"], step["started_s"], step.get("ended_s") or end, step["kind"])
        for step in scenario.get("steps", [])
        if step["kind"] in ("fault", "load")
    ]


def _marks(scenario: dict[str, Any]) -> list[svg.Mark]:
    marks = [
        svg.Mark(
            step["name"],
            step["started_s"],
            "actions",
            "passed" if step["status"] == "ok" else step["status"],
        )
        for step in scenario.get("steps", [])
        if step["kind"] == "action"
    ]
    drill = scenario.get("runbook_drill") or {}
    marks += [
        svg.Mark(f"{s['id']} ({s['section']})", s["started_s"], "runbook", s["verdict"])
        for s in drill.get("steps", [])
        if s.get("started_s") is not None
    ]
    return marks


def _scenario_view(scenario: dict[str, Any]) -> dict[str, Any]:
    end = max(
        [scenario.get("duration_s") or 0.0]
        + [s.get("ended_s") or 0.0 for s in scenario.get("steps", [])]
    )
    span = max(end, 1.0)
    bands = _bands(scenario, end)
    charts = [
        _svg(
            svg.line_chart(
                m["name"],
                m["points"],
                span,
                bands,
                m.get("unit") or (m.get("source", "") if m.get("source") != "metric" else ""),
            )
        )
        for m in scenario.get("metrics", [])
    ]
    assertions = [
        {**a, "spark": _svg(svg.sparkline(a.get("series", [])))}
        for a in scenario.get("assertions", [])
    ]
    return {
        **scenario,
        "timeline": _svg(svg.timeline(bands, _marks(scenario), span)),
        "charts": charts,
        "assertions": assertions,
        "logs": {name: _log_tail(path) for name, path in scenario.get("services", {}).items()},
    }


def _verdict(journal: dict[str, Any]) -> tuple[str, str]:
    scenarios = journal.get("scenarios", [])
    counts = {k: sum(1 for s in scenarios if s["status"] == k) for k in ("failed", "errored")}
    status = journal.get("status", "errored")
    if status == "passed":
        return "PASS", f"all {len(scenarios)} scenario(s) passed: the release may go"
    if status == "failed":
        return "FAIL", (
            f"{counts['failed']} of {len(scenarios)} scenario(s) failed: the system broke a "
            "promise; do not release"
        )
    broken = len(journal.get("invalid_files", []))
    return "ERROR", (
        f"{counts['errored']} scenario(s) errored"
        + (f", {broken} file(s) invalid" if broken else "")
        + ": the run could not judge the system; do not release"
    )


def render_run(journal: dict[str, Any]) -> str:
    """The report of one run (a journal as written by ``chaosgate run``)."""
    verdict, sentence = _verdict(journal)
    scenarios = [_scenario_view(s) for s in journal.get("scenarios", [])]
    finished = journal.get("finished_at") or journal.get("started_at") or 0.0
    return _env.get_template("run.html.j2").render(
        run=journal,
        verdict=verdict,
        sentence=sentence,
        scenarios=scenarios,
        duration_s=max(0.0, finished - (journal.get("started_at") or finished)),
    )


def render_index(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """The runs of a report directory, newest first, and the trend of the last 30."""
    rows = []
    for href, journal in runs:
        scenarios = journal.get("scenarios", [])
        rows.append(
            {
                "href": href,
                "status": journal.get("status", "errored"),
                "started_at": journal.get("started_at", 0.0),
                "seed": journal.get("seed"),
                "passed": sum(1 for s in scenarios if s["status"] == "passed"),
                "failed": sum(1 for s in scenarios if s["status"] == "failed"),
                "errored": sum(1 for s in scenarios if s["status"] == "errored"),
                "duration_s": max(
                    0.0, (journal.get("finished_at") or 0.0) - journal.get("started_at", 0.0)
                ),
            }
        )
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    last = list(reversed(rows[:30]))
    chart = svg.trend(
        [
            (
                time.strftime("%m-%d %H:%M", time.localtime(r["started_at"])),
                r["passed"],
                r["failed"],
                r["errored"],
                r["duration_s"],
            )
            for r in last
        ]
    )
    return _env.get_template("index.html.j2").render(runs=rows, trend=_svg(chart))


def read_journal(path: Path) -> dict[str, Any]:
    """A journal as ``chaosgate run`` wrote it; ValueError when the file is something else."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        raise ValueError("no 'scenarios' list")
    return data


FORMATS.register("html")(Format("report.html", render_run))
