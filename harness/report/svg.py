"""Inline SVG charts for the HTML report: a scenario's timeline (faults, loads, actions, runbook
steps), line charts of its metrics with the fault windows drawn behind, sparklines of assertion
samples, and the runs' trend on the index page. Plain strings, escaped, no scripts: the report
is one file that opens anywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeVar

__all__ = ["Band", "Mark", "line_chart", "sparkline", "timeline", "trend"]

WIDTH = 900
_LEFT = 190  # room for lane labels
_RIGHT = 12
_MAX_POINTS = 300  # per series drawn; more are thinned (the journal keeps them all)
T = TypeVar("T")

COLOURS = {
    "fault": "#d9534f",
    "load": "#f0ad4e",
    "action": "#5b6770",
    "setup": "#9aa5ad",
    "passed": "#2e7d32",
    "failed": "#c62828",
    "human": "#6a4fb3",
    "not run": "#9e9e9e",
    "errored": "#b8860b",
    "line": "#1565c0",
    "window": "#90a4ae",  # an assertion's window
}


@dataclass(frozen=True)
class Band:
    """A window on the timeline: a fault or a load in force."""

    label: str
    start: float
    end: float
    kind: str  # fault | load | window


@dataclass(frozen=True)
class Mark:
    """A moment on the timeline: an action or a runbook step, with its outcome."""

    label: str
    at: float
    lane: str  # actions | runbook
    status: str  # a COLOURS key


def _x(t: float, span: float) -> float:
    return _LEFT + (WIDTH - _LEFT - _RIGHT) * (max(0.0, min(t, span)) / span if span else 0.0)


def _axis(span: float, y: float) -> str:
    step = _nice_step(span)
    parts = [f'<line x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" stroke="#bbb"/>']
    t = 0.0
    while t <= span + 1e-9:
        x = _x(t, span)
        parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#bbb"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y + 15}" font-size="10" text-anchor="middle" '
            f'fill="#666">{t:g} s</text>'
        )
        t += step
    return "".join(parts)


def _nice_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 12:
            return float(step)
    return span / 10 or 1.0


def timeline(bands: Sequence[Band], marks: Sequence[Mark], span: float) -> str:
    """Lanes: one per fault or load window, then actions, then runbook steps."""
    lanes: list[str] = [b.label for b in bands]
    for lane in ("actions", "runbook"):
        if any(m.lane == lane for m in marks):
            lanes.append(lane)
    row = 18
    height = row * len(lanes) + 28
    parts = [
        f'<svg class="timeline" role="img" aria-label="timeline" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, lane in enumerate(lanes):
        y = 4 + i * row
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 12}" font-size="11" text-anchor="end" '
            f'fill="#333">{escape(_short(lane, 30))}</text>'
        )
    for i, band in enumerate(bands):
        y = 4 + i * row
        x1, x2 = _x(band.start, span), _x(band.end, span)
        parts.append(
            f'<rect x="{x1:.1f}" y="{y + 2}" width="{max(2.0, x2 - x1):.1f}" height="{row - 6}" '
            f'fill="{COLOURS.get(band.kind, "#999")}" opacity="0.8"><title>'
            f"{escape(band.label)}: {band.start:.1f} to {band.end:.1f} s</title></rect>"
        )
    for mark in marks:
        y = 4 + lanes.index(mark.lane) * row
        x = _x(mark.at, span)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y + row / 2 - 1}" r="4" '
            f'fill="{COLOURS.get(mark.status, "#999")}"><title>{escape(mark.label)} '
            f"at {mark.at:.1f} s ({escape(mark.status)})</title></circle>"
        )
    parts.append(_axis(span, height - 24))
    parts.append("</svg>")
    return "".join(parts)


def _thin(points: list[T]) -> list[T]:
    """At most _MAX_POINTS (+ the last) of ``points``, evenly spread."""
    if len(points) <= _MAX_POINTS:
        return points
    step = len(points) / _MAX_POINTS
    return [points[int(i * step)] for i in range(_MAX_POINTS)] + [points[-1]]


def line_chart(
    title: str,
    points: Sequence[Sequence[float | None]],
    span: float,
    bands: Sequence[Band],
    unit: str = "",
) -> str:
    """A metric over the scenario's time; fault and load windows shaded behind it. A value of
    None (the probe failed) breaks the line."""
    height, top, bottom = 110, 18, 22
    pts = _thin([(float(p[0]), p[1]) for p in points if p[0] is not None])
    values = [v for _, v in pts if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        high = low + (abs(low) or 1.0)
    low = min(low, 0.0) if low >= 0 else low

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low) / (high - low))

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{_LEFT - 6}" y="{top + 4}" font-size="11" text-anchor="end" fill="#333">'
        f"{escape(_short(title, 30))}</text>",
        f'<text x="{_LEFT - 6}" y="{top + 18}" font-size="10" text-anchor="end" fill="#888">'
        f"{escape(_short(unit, 30))}</text>",
    ]
    for band in bands:
        x1, x2 = _x(band.start, span), _x(band.end, span)
        parts.append(
            f'<rect x="{x1:.1f}" y="{top}" width="{max(1.0, x2 - x1):.1f}" '
            f'height="{height - top - bottom}" fill="{COLOURS.get(band.kind, "#999")}" '
            f'opacity="0.15"/>'
        )
    for bound in (low, high):
        parts.append(
            f'<text x="{_LEFT + 2}" y="{y(bound) + (10 if bound == high else -2):.1f}" '
            f'font-size="9" fill="#888">{bound:g}</text>'
        )
    segments: list[list[str]] = [[]]
    for t, v in pts:
        if v is None:
            segments.append([])
        else:
            segments[-1].append(f"{_x(t, span):.1f},{y(v):.1f}")
    for segment in segments:
        if len(segment) == 1:
            cx, cy = segment[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{COLOURS["line"]}"/>')
        elif segment:
            parts.append(
                f'<polyline fill="none" stroke="{COLOURS["line"]}" stroke-width="1.5" '
                f'points="{" ".join(segment)}"/>'
            )
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{height / 2}" font-size="11" fill="#888" '
            f'text-anchor="middle">no numeric samples</text>'
        )
    parts.append(_axis(span, height - bottom))
    parts.append("</svg>")
    return "".join(parts)


def sparkline(samples: Sequence[Sequence[object]], width: int = 160, height: int = 28) -> str:
    """Assertion samples: the observed numbers as a line, failing samples as red dots."""
    pts = [
        (float(s[0]), float(s[1]), bool(s[2]))
        for s in samples
        if len(s) >= 3 and isinstance(s[0], int | float) and isinstance(s[1], int | float)
    ]
    if not pts:
        return ""
    pts = _thin(pts)
    t0, t1 = pts[0][0], pts[-1][0]
    lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
    hi = hi if hi != lo else lo + 1

    def xy(t: float, v: float) -> tuple[float, float]:
        x = 2 + (width - 4) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)
        return x, 2 + (height - 4) * (1 - (v - lo) / (hi - lo))

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v, _ in pts))
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{COLOURS["failed"]}"/>'
        for x, y in (xy(t, v) for t, v, ok in pts if not ok)
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><polyline fill="none" stroke="{COLOURS["line"]}" '
        f'stroke-width="1.2" points="{line}"/>{dots}<title>{lo:g} to {hi:g}</title></svg>'
    )


def trend(runs: Sequence[tuple[str, int, int, int, float]]) -> str:
    """The last runs, oldest first: (label, passed, failed, errored, duration) as stacked
    bars."""
    if not runs:
        return ""
    bar, gap, height, top = 22, 6, 120, 10
    width = max(300, len(runs) * (bar + gap) + 40)
    most = max(p + f + e for _, p, f, e, _ in runs) or 1
    parts = [
        f'<svg class="trend" role="img" aria-label="trend of the last runs" width="{width}" '
        f'height="{height + 20}" viewBox="0 0 {width} {height + 20}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, passed, failed, errored, duration) in enumerate(runs):
        x = 20 + i * (bar + gap)
        y = float(top + height - 10)
        for count, colour in (
            (passed, COLOURS["passed"]),
            (failed, COLOURS["failed"]),
            (errored, COLOURS["errored"]),
        ):
            h = (height - 20) * count / most
            y -= h
            if count:
                parts.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(label)}: {passed} passed, {failed} failed, {errored} "
                    f"errored, {duration:.0f} s</title></rect>"
                )
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
