"""Verify and decide: the invariants judged after the method, then the scenario's verdict.

A scenario *fails* when the system misbehaved (an action's answer was not the one it expects,
an assertion, the runbook, the steady state after the method or an invariant does not hold, a
fault never took hold, a load fell short); it *errors* when the harness could not run it as
written (its timeline slipped, a fault or load could not be applied, an action could not run,
no sample of an assertion fitted in its window).
"""

from __future__ import annotations

from harness.invariants import check_invariant, describe
from harness.journal import ScenarioRecord, Status
from harness.run.state import RunState

__all__ = ["judge_invariants", "verdict"]


def judge_invariants(state: RunState) -> None:
    """Each invariant against what the harness did (the steps' history) and the system says."""
    for invariant in state.scenario.invariants:
        state.on_event(f"invariant: {invariant.name}")
        state.record.invariants.append(
            check_invariant(
                invariant,
                state.record.steps,
                state.observe,
                time_scale=state.time_scale,
                clock=state.clock,
                kinds=state.kinds.invariants,
            )
        )


def verdict(record: ScenarioRecord) -> tuple[Status, str]:
    """The scenario's status and the reason: the first broken promise, in the order faults and
    loads, assertions, runbook, steady state after, invariants — after the harness's own
    trouble (a timeline that slipped, a step it could not run), which errors the scenario."""
    if record.slips:
        more = f" (and {len(record.slips) - 1} more)" if len(record.slips) > 1 else ""
        return "errored", f"the timeline slipped: {record.slips[0]}{more}"
    for step in record.steps:
        if step.status == "errored" and step.kind in ("fault", "load"):
            return "errored", f"{step.kind} {step.name!r}: {step.detail}"
        if step.kind == "fault" and not step.fired:
            return "failed", f"fault {step.name!r} never took hold: {step.evidence}"
        if step.kind == "load" and not step.fired:
            return "failed", f"load {step.name!r} fell short: {step.evidence}"
        if step.broken:
            return "failed", f"{step.kind} {step.name!r}: {step.broken}"
        if step.kind == "action" and step.status == "errored":
            return "errored", f"action {step.name!r} could not run: {step.detail}"
        if step.kind == "action" and step.status == "failed":
            return (
                "failed",
                f"action {step.name!r}: the system did not answer as expected: {step.detail}",
            )
    for a in record.assertions:
        if a.status == "errored":
            return "errored", f"assertion {a.name!r} ({a.type}) could not be judged: {a.why}"
    for a in record.assertions:
        if a.status != "passed":
            return "failed", f"assertion {a.name!r} ({a.type}) failed: {a.why}"
    drill = record.runbook_drill
    if drill is not None and drill.status != "passed":
        return "failed", f"runbook {drill.why or f'{drill.path}: {drill.status}'}"
    for c in record.steady_state_after:
        if not c.ok:
            return "failed", f"steady state not restored after the method: {c.name}: {c.why}"
    for inv in record.invariants:
        if inv.status != "passed":
            return "failed", f"invariant {inv.name!r} ({inv.type}) broken: {describe(inv)}"
    return "passed", ""
