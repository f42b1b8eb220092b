"""Set up and steady state: the actions that prepare the system, and the checks that say it is
healthy before the method (else the run errors: it would prove nothing) and after it (else the
system failed to recover)."""

from __future__ import annotations

from harness.actions import run_action
from harness.errors import HarnessError
from harness.history import on_scenario_clock
from harness.journal import CheckRecord, Status, StepRecord
from harness.run.state import RunState
from harness.scenario.model import Action

__all__ = ["Abort", "action_step", "set_up", "steady_state"]


class Abort(Exception):
    """Ends a run early with this verdict (a set-up that failed, a steady state not met)."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def action_step(
    state: RunState, name: str, kind: str, action: Action, step: StepRecord | None = None
) -> StepRecord:
    """Run one action as a step of the record (set-up, method or rollback); ``step``: the
    record the timeline made for it when it was due."""
    if step is None:
        step = StepRecord(name, kind, state.now())
    step.started_s = state.now()
    try:
        result = run_action(
            action, state.services, state.context(), key=name, kinds=state.kinds.actions
        )
    except HarnessError as exc:
        step.status, step.detail = "errored", str(exc)
    else:
        state.variables.update(result.captured)
        if result.captured:
            state.on_captured(result.captured)
        step.status = "ok" if result.ok else "errored" if result.errored else "failed"
        step.detail = result.detail
        step.history = on_scenario_clock(result.history, state.record.started_at)
    step.ended_s = state.now()
    return step


def set_up(state: RunState) -> None:
    """The scenario's set-up actions, in order; the first that fails errors the run."""
    for i, action in enumerate(state.scenario.setup):
        name = action.name or f"setup {i + 1}"
        step = action_step(state, name, "setup", action)
        state.record.steps.append(step)
        if step.status != "ok":
            which = repr(action.name) if action.name else str(i + 1)
            raise Abort("errored", f"set-up action {which} failed: {step.detail}")


def steady_state(state: RunState) -> list[CheckRecord]:
    """Each steady-state check, observed once now."""
    records = []
    for check in state.scenario.steady_state:
        ok, observation, why = state.check(check)
        detail = observation.detail or observation.error or ""
        records.append(
            CheckRecord(check.name, ok, observation.value, why, state.now(), detail=detail)
        )
    return records
