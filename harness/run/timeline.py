"""Inject and observe: the method's timeline — faults, actions, loads and runbook phases at
their ``at_s`` — while assertions and metrics are sampled on threads of their own.

The method ends when every step has run, every timed fault is reverted and every assertion is
decided (or, in a game day, when its strategy says so); faults without a duration are reverted
with the rollbacks.
"""

from __future__ import annotations

from functools import partial

from harness.clock import Task
from harness.faults import apply_fault
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

POLL_S = 0.1  # how often the timeline looks at its threads while nothing is due


def run_method(state: RunState, strategy: RunStrategy) -> None:
    """Run the scenario's method on ``state``'s clock, as ``strategy`` drives it."""
    scenario, record, s = state.scenario, state.record, state.time_scale
    begin = state.now()
    record.method_started_s = round(begin, 3)
    pending = sorted(enumerate(scenario.method), key=lambda item: (item[1].at_s, item[0]))
    endings: list[tuple[float, StepRecord]] = []
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
        samplers.append(
            state.clock.spawn(partial(measure, state, metric, series), f"cg-metric-{i}")
        )
    phases: list[Task] = []
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
                _run_step(state, index, step, begin, endings)
            now = state.now()
            for end_at, step_record in list(endings):
                if end_at <= now:
                    endings.remove((end_at, step_record))
                    active = next(a for r, a in state.active if r is step_record)
                    revert_one(state, step_record, active)
            waiting = [begin + st.at_s * s for _, st in pending] + [e for e, _ in endings]
            deciding = any(not w.done for w in watches) or any(p.is_alive() for p in phases)
            if strategy.method_over(bool(waiting) or deciding):
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
        for task in [*samplers, *phases]:
            state.clock.join(task)


def _run_step(
    state: RunState, index: int, step: Step, begin: float, endings: list[tuple[float, StepRecord]]
) -> None:
    """Start one fault or load (its end scheduled), or run one action."""
    s, record = state.time_scale, state.record
    now = state.now()
    if step.fault is not None:
        step_record = StepRecord(step.name, "fault", now)
        state.on_event(f"fault: {step.name}")
        active = apply_fault(
            step.fault, state.services, f"cg_step_{index}", kinds=state.kinds.faults
        )
        step_record.detail = active.description
        step_record.evidence, step_record.fired = active.evidence, active.fired
    elif step.load is not None:
        assert step.duration_s is not None  # the model requires it for load
        step_record = StepRecord(step.name, "load", now)
        state.on_event(f"load: {step.name}")
        active = start_load(
            step.load,
            step.duration_s * s,
            state.services,
            state.context(),
            state.run_dir,
            f"step_{index}",
            kinds=state.kinds.loads,
        )
        step_record.detail = active.description
    else:
        assert step.action is not None
        state.on_event(f"action: {step.name}")
        record.steps.append(action_step(state, step.name, "action", step.action))
        return
    record.steps.append(step_record)
    state.active.append((step_record, active))
    if step.duration_s is not None:
        endings.append((begin + (step.at_s + step.duration_s) * s, step_record))
