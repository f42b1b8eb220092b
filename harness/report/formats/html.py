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
from harness.report.formats import FORMATS, OUTSIDE, Format

__all__ = ["LOG_TAIL_BYTES", "render_index", "render_run", "render_template"]

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


def render_template(name: str, **context: Any) -> str:
    """Any report page (``harness/report/templates``) with the filters the run report has."""
    return _env.get_template(name).render(**context)


def _log_tail(path: str) -> str:
    if path.startswith(OUTSIDE):
        return f"(not embedded: the journal names a log {path}; logs are read from there only)"
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


def _bands(scenario: dict[str, Any], end: float, begin: float) -> list[svg.Band]:
    """Fault and load windows as they ran, then each assertion's window, in method time."""
    bands = [
        svg.Band(
            step["name"],
            step["started_s"] - begin,
            (step.get("ended_s") or end) - begin,
            step["kind"],
        )
        for step in scenario.get("steps", [])
        if step["kind"] in ("fault", "load")
    ]
    bands += [
        svg.Band(f"window: {a['name']}", a["window"][0] - begin, a["window"][1] - begin, "window")
        for a in scenario.get("assertions", [])
        if len(a.get("window") or []) == 2
    ]
    return bands


def _marks(scenario: dict[str, Any], begin: float) -> list[svg.Mark]:
    """Actions and runbook steps when they ran, and each failing sample on its assertion's
    window, in method time."""
    marks = [
        svg.Mark(
            step["name"],
            step["started_s"] - begin,
            "actions",
            "passed" if step["status"] == "ok" else step["status"],
        )
        for step in scenario.get("steps", [])
        if step["kind"] == "action"
    ]
    drill = scenario.get("runbook_drill") or {}
    marks += [
        svg.Mark(f"{s['id']} ({s['section']})", s["started_s"] - begin, "runbook", s["verdict"])
        for s in drill.get("steps", [])
        if s.get("started_s") is not None
    ]
    for a in scenario.get("assertions", []):
        if a.get("status") == "failed" and a.get("at_s") is not None and a.get("window"):
            marks.append(
                svg.Mark(
                    f"{a['name']}: failing sample",
                    a["at_s"] - begin,
                    f"window: {a['name']}",
                    "failed",
                )
            )
    return marks


def _operations(step: dict[str, Any]) -> str:
    """``120 operations: 118 ok, 2 fail`` for a step with a history of keyed operations."""
    entries = [e for e in step.get("history", []) if e.get("key") is not None or e.get("result")]
    if not entries:
        return ""
    counts: dict[str, int] = {}
    for entry in entries:
        result = str(entry.get("result", "?"))
        counts[result] = counts.get(result, 0) + 1
    total = max(step.get("history_count") or 0, len(step.get("history", [])))
    shown = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
    more = (
        f" (first {len(step.get('history', []))} of {total} in the journal)"
        if total > len(step.get("history", []))
        else ""
    )
    return f"{total} operation(s): {shown}{more}; all in history.jsonl"


def _method_time(points: list[list[Any]], begin: float) -> list[list[Any]]:
    return [[p[0] - begin, *p[1:]] if p and p[0] is not None else p for p in points]


def _scenario_view(scenario: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of a scenario; every time from the method's start, as the
    scenario's ``at_s`` are."""
    begin = scenario.get("method_started_s") or 0.0
    end = max(
        [scenario.get("duration_s") or 0.0]
        + [s.get("ended_s") or 0.0 for s in scenario.get("steps", [])]
    )
    span = max(end - begin, 1.0)
    bands = _bands(scenario, end, begin)
    faults = [b for b in bands if b.kind != "window"]
    charts = [
        _svg(
            svg.line_chart(
                m["name"],
                _method_time(m["points"], begin),
                span,
                faults,
                m.get("unit") or (m.get("source", "") if m.get("source") != "metric" else ""),
            )
        )
        for m in scenario.get("metrics", [])
    ]
    assertions = [
        {
            **a,
            "spark": _svg(svg.sparkline(_method_time(a.get("series", []), begin))),
            "window_m": [w - begin for w in a.get("window") or []],
            "at_m": a["at_s"] - begin if a.get("at_s") is not None else None,
        }
        for a in scenario.get("assertions", [])
    ]
    steps = [
        {
            **st,
            "scheduled_m": st["scheduled_s"] - begin if st.get("scheduled_s") is not None else None,
            "scheduled_end_m": (
                st["scheduled_end_s"] - begin if st.get("scheduled_end_s") is not None else None
            ),
            "started_m": st["started_s"] - begin,
            "ended_m": st["ended_s"] - begin if st.get("ended_s") is not None else None,
            "operations": _operations(st),
        }
        for st in scenario.get("steps", [])
    ]
    return {
        **scenario,
        "method_begin": begin,
        "steps": steps,
        "timeline": _svg(svg.timeline(bands, _marks(scenario, begin), span)),
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
