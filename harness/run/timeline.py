"""Inject and observe: the method's timeline — faults, actions, loads and runbook phases at
their ``at_s`` — while assertions and metrics are sampled on threads of their own.

The timeline keeps time: each step starts on a thread of its own when it is due, so a slow
action never shifts a fault after it, and a timed fault is reverted when its duration ends.
Actions run one after another, in the order written (a later one may use what an earlier one
captured): an action held up by the one before it is late. Every step records when it was
scheduled and when it ran; one that started (or, for a fault, ended) later than the
scenario's ``tolerance_s`` is a slip, and a slip errors the run naming the step, its
schedule and what delayed it — the harness did not run the scenario as written.

The method ends when every step has run, every timed fault is reverted and every assertion is
decided (or, in a game day, when its strategy says so); faults without a duration are reverted
after the method.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from harness.clock import Task
from harness.errors import FaultError, HarnessError
from harness.faults import ActiveFault, apply_fault
from harness.journal import MetricSeries, StepRecord
from harness.load import start_load
from harness.run.drill import incident_step, make_drill, start_phase
from harness.run.rollback import revert_one
from harness.run.sampling import AssertionWatch, measure, watch
from harness.run.state import RunState
from harness.run.steady import action_step
from harness.run.strategy import RunStrategy
from harness.scenario.model import Step

__all__ = ["POLL_S", "run_method"]

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often the timeline looks at its threads while nothing is due


@dataclass
class _Running:
    """A step the timeline started: its record, its thread, what it put in force."""

    index: int
    step: Step
    record: StepRecord
    task: Task | None = None
    active: ActiveFault | None = None
    end_at: float | None = None  # a timed fault's or load's scheduled end
    revert: Task | None = None
    problem: str = ""  # the harness could not do it (a HarnessError)


def run_method(state: RunState, strategy: RunStrategy) -> None:
    """Run the scenario's method on ``state``'s clock, as ``strategy`` drives it.

    Raises:
        HarnessError: a fault or load could not be applied (the run errors).
    """
    scenario, record, s = state.scenario, state.record, state.time_scale
    begin = state.now()
    record.method_started_s = round(begin, 3)
    pending = sorted(enumerate(scenario.method), key=lambda item: (item[1].at_s, item[0]))
    watches = [AssertionWatch.begin(a, begin, s) for a in scenario.assertions]
    record.assertions = [w.record for w in watches]
    drill = make_drill(state)
    incident = incident_step(scenario)
    samplers: list[Task] = []
    for i, w in enumerate(watches):
        samplers.append(state.clock.spawn(partial(watch, state, w), f"cg-assert-{i}"))
    for i, metric in enumerate(scenario.metrics):
        series = MetricSeries(metric.name, metric.unit, "metric")
        record.metrics.append(series)
        sample = partial(measure, state, metric, series)
        samplers.append(state.clock.spawn(sample, f"cg-metric-{i}"))
    phases: list[Task] = []
    running: list[_Running] = []
    last_action: _Running | None = None
    strategy.method_started(state)
    try:
        while True:
            now = state.now()
            while pending and begin + pending[0][1].at_s * s <= now:
                index, step = pending.pop(0)
                if drill is not None and step.name == incident:
                    drill.mark_incident(round(state.now(), 3))
                if step.runbook is not None:
                    assert drill is not None  # the model requires a drill for these steps
                    if strategy.runs_runbook_phases:
                        phases.append(start_phase(state, drill, step, phases))
                    continue
                r = _start(state, index, step, begin, last_action if step.action else None)
                running.append(r)
                if step.action is not None:
                    last_action = r
            now = state.now()
            for r in running:
                if r.end_at is not None and r.revert is None and r.end_at <= now:
                    r.revert = state.clock.spawn(partial(_revert, state, r), f"cg-revert-{r.index}")
            broken = next((r for r in running if r.problem), None)
            if broken is not None:
                raise FaultError(f"{broken.record.kind} {broken.step.name!r}: {broken.problem}")
            waiting = [begin + st.at_s * s for _, st in pending] + [
                r.end_at for r in running if r.end_at is not None and r.revert is None
            ]
            deciding = (
                any(not w.done for w in watches)
                or any(p.is_alive() for p in phases)
                or any(t.is_alive() for r in running for t in (r.task, r.revert) if t)
            )
            failed = state.fail_fast and _failed_yet(watches, state)
            if failed or strategy.method_over(bool(waiting) or deciding):
                if failed:
                    state.stopped_early = True
                    record.assertions = [w.record for w in watches if w.done]
                strategy.method_ending()
                if drill is not None:
                    drill.finish()
                record.method_ended_s = round(state.now(), 3)
                strategy.method_ended()  # a game day's abort raises here: the run rolls back
                return
            wake = min(waiting) - state.now() if waiting else POLL_S
            state.clock.sleep(max(0.0, min(wake, POLL_S)))
    finally:
        state.stop.set()
        strategy.close()
        for r in running:
            for task in (r.task, r.revert):
                if task is not None:
                    state.clock.join(task)
        for task in [*samplers, *phases]:
            state.clock.join(task)
        _slips(state, running, begin)


def _failed_yet(watches: list[AssertionWatch], state: RunState) -> bool:
    """An assertion decided against the system, or an action it answered wrongly."""
    if any(w.done and w.record.status != "passed" for w in watches):
        return True
    return any(r.kind == "action" and r.status == "failed" for r in state.record.steps)


def _start(
    state: RunState, index: int, step: Step, begin: float, before: _Running | None
) -> _Running:
    """Record the step (in the order the method wrote it) and start it on its own thread."""
    s = state.time_scale
    scheduled = begin + step.at_s * s
    kind = "fault" if step.fault else "load" if step.load else "action"
    record = StepRecord(step.name, kind, round(scheduled, 3), scheduled_s=round(scheduled, 3))
    r = _Running(index, step, record)
    if step.duration_s is not None:
        r.end_at = begin + (step.at_s + step.duration_s) * s
        record.scheduled_end_s = round(r.end_at, 3)
    state.record.steps.append(record)
    state.on_event(f"{kind}: {step.name}")
    r.task = state.clock.spawn(partial(_run, state, r, before), f"cg-step-{index}")
    return r


def _run(state: RunState, r: _Running, before: _Running | None) -> None:
    """The body of a step's thread: an action after the action before it; a fault or a load
    at once."""
    step, record = r.step, r.record
    if before is not None and before.task is not None:
        state.clock.join(before.task)
    started = state.now()
    record.started_s = round(started, 3)
    record.late_s = round(max(0.0, started - (record.scheduled_s or started)), 3)
    if before is not None and record.late_s:
        record.delayed_by = (
            f"the action {before.step.name!r} before it ran until "
            f"{before.record.ended_s or started:.3f} s"
        )
    try:
        if step.action is not None:
            action_step(state, step.name, "action", step.action, record)
            return
        if step.fault is not None:
            active = apply_fault(
                step.fault, state.services, f"cg_step_{r.index}", kinds=state.kinds.faults
            )
            record.evidence, record.fired = active.evidence, active.fired
        else:
            assert step.load is not None  # the model's rules: a load, with a duration
            assert step.duration_s is not None
            active = start_load(
                step.load,
                step.duration_s * state.time_scale,
                state.services,
                state.context(),
                state.run_dir,
                f"step_{r.index}",
                kinds=state.kinds.loads,
            )
        record.detail = active.description
        r.active = active
        state.active.append((record, active))
    except HarnessError as exc:
        record.status, record.detail, r.problem = "errored", str(exc), str(exc)
        record.ended_s = state.now()
    except Exception as exc:  # a bug in a kind: the run errors, never hangs
        log.exception("step %s: unexpected error", step.name)
        problem = f"{type(exc).__name__}: {exc}"
        record.status, record.detail, r.problem = "errored", problem, problem
        record.ended_s = state.now()


def _revert(state: RunState, r: _Running) -> None:
    """Revert a timed fault or load when its duration ends (after it was applied)."""
    assert r.end_at is not None
    applying = r.task is not None and r.task.is_alive()
    if r.task is not None:
        state.clock.join(r.task)  # still being applied at its end: the revert is late
    if r.active is None:
        return  # it never took effect (the harness could not apply it)
    late = round(state.now() - r.end_at, 3)
    if late > r.record.late_s:
        r.record.late_s = late
        r.record.delayed_by = (
            f"applying it took until {state.now():.3f} s, past its end"
            if applying
            else "the timeline reverted it late"
        )
    revert_one(state, r.record, r.active)


def _slips(state: RunState, running: list[_Running], begin: float) -> None:
    """Every step that started or ended later than the tolerance, in words."""
    tolerance = state.scenario.tolerance_s
    for r in running:
        rec = r.record
        if rec.late_s <= tolerance:
            continue
        at = (rec.scheduled_s or begin) - begin
        end = f", to end at {(rec.scheduled_end_s or 0) - begin:.3f} s" if r.end_at else ""
        state.record.slips.append(
            f"{rec.kind} {rec.name!r} scheduled at {at:.3f} s (method time){end} ran "
            f"{rec.late_s:.3f} s late (tolerance {tolerance:g} s): delayed by "
            f"{rec.delayed_by or 'the machine (the timeline thread was not run in time)'}"
        )
