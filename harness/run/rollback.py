"""Roll back: faults and loads reverted (each once, when its step ends or at the end of the run),
then the scenario's rollback actions — always, also after a failure, an error or Ctrl-C."""

from __future__ import annotations

from harness.faults import ActiveFault
from harness.history import on_scenario_clock
from harness.journal import MetricSeries, StepRecord
from harness.run.state import RunState
from harness.run.steady import action_step

__all__ = ["revert_all", "revert_one", "roll_back"]


def revert_one(state: RunState, step: StepRecord, active: ActiveFault) -> None:
    """Revert one fault or load now and record what it read back (a load's series too)."""
    record = state.record
    failed: Exception | None = None
    try:
        active.revert()
    except Exception as exc:
        failed = exc
    step.ended_s = state.now()  # tried once; never again at teardown
    # What it read back counts even when its revert failed (a load whose worker died).
    step.fired, step.evidence = active.fired, list(active.evidence)
    step.broken = active.broken
    step.history = on_scenario_clock(active.history, record.started_at)
    for name, points in active.series.items():  # unix times -> the scenario's clock
        # Locust stamps its rows with whole seconds: the first may fall up to a second
        # before the load started; it belongs to the load's first second.
        record.metrics.append(
            MetricSeries(
                name,
                "",
                f"{step.kind}: {step.name}",
                [
                    [round(max(step.started_s, at - record.started_at), 3), value]
                    for at, value in points
                ],
            )
        )
    if failed is not None:
        step.status, step.detail = "errored", f"{step.detail}; revert failed: {failed}"


def revert_all(state: RunState) -> None:
    """Revert what is still in force, newest first; a revert that failed is a teardown
    problem."""
    while state.active:
        step, active = state.active.pop()
        if step.ended_s is None:
            revert_one(state, step, active)
        if step.status == "errored":
            state.record.teardown_problems.append(step.detail)


def roll_back(state: RunState) -> None:
    """Revert every fault, then run the scenario's rollback actions."""
    revert_all(state)
    if state.stack is None:
        return
    for i, action in enumerate(state.scenario.rollbacks):
        name = action.name or f"rollback {i + 1}"
        state.record.rollbacks.append(action_step(state, name, "rollback", action))
