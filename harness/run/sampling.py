"""Observe: each assertion sampled on its own thread (a slow probe never delays a fault, an
action or another assertion), and each metric sampled for the report's charts.

:meth:`AssertionWatch.judge` is the whole of ``eventually``/``always``/``never``: one sample
in (when it started and ended), the assertion's state and next sample time out. Evidence comes
from inside the window only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from harness.journal import SERIES_CAP, AssertionRecord, MetricSeries
from harness.probes import Observation
from harness.run.state import RunState
from harness.scenario.model import Assertion, Metric

__all__ = ["AssertionWatch", "measure", "number", "watch"]

log = logging.getLogger(__name__)


#: how far a sample's start or end may be from the window's edge and still count (float noise)
_EDGE_S = 1e-6


@dataclass
class AssertionWatch:
    """One assertion being sampled: its window on the run's clock and its record.

    Only samples that started and ended inside ``[start, end]`` count; a sample that overran
    the window is kept in the series, marked, and not counted. Samples start ``interval_s``
    apart, or as soon as the last one ended when the probe is slower than that, and the last
    one is planned so it still fits in the window.
    """

    spec: Assertion
    record: AssertionRecord
    next_at: float
    start: float
    end: float
    done: bool = False

    @classmethod
    def begin(cls, spec: Assertion, begin: float, time_scale: float) -> AssertionWatch:
        """Its window from the method's start ``begin`` (the run's clock), times scaled."""
        start = begin + spec.from_s * time_scale
        window = spec.within_s if spec.type == "eventually" else spec.until_s
        end = begin + (window or 0) * time_scale
        expected = spec.check.expect.model_dump(exclude_none=True)
        record = AssertionRecord(spec.name, spec.type, expected)
        record.window = [round(start, 3), round(end, 3)]
        return cls(spec, record, start, start, end)

    def judge(
        self, ok: bool, observation: Observation, why: str, started: float, ended: float
    ) -> None:
        """Take one sample that ran from ``started`` to ``ended``: decide the assertion or
        plan the next sample."""
        rec, kind = self.record, self.spec.type
        inside = started >= self.start - _EDGE_S and ended <= self.end + _EDGE_S
        if len(rec.series) < SERIES_CAP:
            rec.series.append(
                [round(started, 3), number(observation.value), ok, round(ended, 3), inside]
            )
        if not inside:
            rec.not_counted += 1
        else:
            rec.samples += 1
            rec.observed, rec.why, rec.at_s = observation.value, why, round(started, 3)
            rec.detail = observation.detail or observation.error or ""
            if kind == "eventually" and ok:
                rec.status, self.done = "passed", True
            elif kind == "always" and not ok:
                rec.status, self.done = "failed", True
            elif kind == "never" and ok:
                rec.status, rec.why, self.done = "failed", f"held: {why}", True
            if self.done:
                return
        took = max(0.0, ended - started)
        following = max(started + self.spec.interval_s, ended)
        if following + took > self.end + _EDGE_S:
            last = self.end - took  # one more sample, if it can still fit in the window
            following = last if last > ended + _EDGE_S else math.inf
        if math.isinf(following):
            self._decide(took)
        else:
            self.next_at = following

    def _decide(self, took: float) -> None:
        """No further sample fits in the window: decide from the samples that counted."""
        rec, kind = self.record, self.spec.type
        self.done = True
        if rec.samples == 0:
            rec.status = "errored"
            rec.why = (
                f"no sample fitted in its window ({self.end - self.start:g} s): the probe "
                f"took {took:.2f} s; give it a longer window or a faster probe"
            )
        elif kind == "eventually":
            rec.status = "failed"
            rec.why = f"not within {self.spec.within_s:g} s (scaled): {rec.why}"
        else:
            rec.status = "passed"


def watch(state: RunState, w: AssertionWatch) -> None:
    """Sample ``w`` until it is decided or the method ends (the body of its thread)."""
    try:
        while not w.done:
            delay = w.next_at - state.now()
            if delay > 0 and state.clock.wait(state.stop, delay):
                return
            if state.stop.is_set():
                return
            started = state.now()
            ok, observation, why = state.check(w.spec.check)
            w.judge(ok, observation, why, started, state.now())
    except Exception as exc:  # a bug in a probe must decide the assertion, not hang the run
        log.exception("assertion %s: unexpected error", w.spec.name)
        w.record.status, w.record.why = "errored", f"{type(exc).__name__}: {exc}"
        w.done = True


def measure(state: RunState, metric: Metric, series: MetricSeries) -> None:
    """Sample a metric for the report until the method ends; a failing probe is a gap."""
    try:
        while not state.stop.is_set() and len(series.points) < SERIES_CAP:
            value = state.observe(metric.probe).value
            series.points.append([round(state.now(), 3), number(value)])
            state.clock.wait(state.stop, metric.interval_s * state.time_scale)
    except Exception:  # a chart is not worth a run: log it and stop sampling
        log.exception("metric %s: unexpected error", metric.name)


def number(value: object) -> float | None:
    """A probe's value as a number for charts; None when it is not one."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None
