"""Observe: each assertion sampled on its own thread (a slow probe never delays a fault, an
action or another assertion), and each metric sampled for the report's charts.

:meth:`AssertionWatch.judge` is the whole of ``eventually``/``always``/``never``: one sample
in, the assertion's state and next sample time out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from harness.journal import SERIES_CAP, AssertionRecord, MetricSeries
from harness.probes import Observation
from harness.run.state import RunState
from harness.scenario.model import Assertion, Metric

__all__ = ["AssertionWatch", "measure", "number", "watch"]

log = logging.getLogger(__name__)


@dataclass
class AssertionWatch:
    """One assertion being sampled: its window on the run's clock and its record."""

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
        return cls(spec, AssertionRecord(spec.name, spec.type, expected), start, start, end)

    def judge(self, ok: bool, observation: Observation, why: str, now: float) -> None:
        """Take one sample observed at ``now``: decide the assertion or plan the next."""
        rec = self.record
        rec.samples += 1
        rec.observed, rec.why, rec.at_s = observation.value, why, now
        if len(rec.series) < SERIES_CAP:
            rec.series.append([round(now, 3), number(observation.value), ok])
        kind = self.spec.type
        if kind == "eventually" and ok:
            rec.status, self.done = "passed", True
        elif kind == "always" and not ok:
            rec.status, self.done = "failed", True
        elif kind == "never" and ok:
            rec.status, rec.why, self.done = "failed", f"held: {why}", True
        elif now >= self.end:
            rec.status = "failed" if kind == "eventually" else "passed"
            if kind == "eventually":
                rec.why = f"not within {self.spec.within_s:g} s (scaled): {why}"
            self.done = True
        self.next_at = min(now + self.spec.interval_s, max(self.end, now))
        if self.next_at <= now and not self.done:
            self.next_at = self.end


def watch(state: RunState, w: AssertionWatch) -> None:
    """Sample ``w`` until it is decided or the method ends (the body of its thread)."""
    try:
        while not w.done:
            delay = w.next_at - state.now()
            if delay > 0 and state.clock.wait(state.stop, delay):
                return
            if state.stop.is_set():
                return
            ok, observation, why = state.check(w.spec.check)
            w.judge(ok, observation, why, state.now())
    except Exception as exc:  # a bug in a probe must decide the assertion, not hang the run
        log.exception("assertion %s: unexpected error", w.spec.name)
        w.record.status, w.record.why = "failed", f"{type(exc).__name__}: {exc}"
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
