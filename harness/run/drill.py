"""The runbook drill's wiring: the runbook parsed before anything starts, its executor built on
the run's probes and clock, its phases run on their own thread in order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from harness.clock import Task
from harness.errors import RunbookInvalid
from harness.journal import RunbookRecord
from harness.run.state import RunState
from harness.runbooks.parser import parse_runbook
from harness.runbooks.verify import DrillRunner
from harness.scenario.model import Check, RunbookDrill, Scenario, Step

__all__ = ["incident_step", "make_drill", "prepare_drill", "start_phase"]

log = logging.getLogger(__name__)


def prepare_drill(state: RunState) -> None:
    """Parse the drill's runbook before anything starts: a broken runbook errors the scenario
    with every problem at its line; one that does not list the scenario errors at its
    ``scenarios:`` line."""
    spec = state.scenario.runbook
    if not isinstance(spec, RunbookDrill):
        return
    runbook = parse_runbook(Path(spec.path))
    if state.record.id not in runbook.front.scenarios:
        raise RunbookInvalid(
            spec.path,
            [
                (
                    runbook.keys.get("scenarios"),
                    f"scenario {state.record.id!r} executes this runbook but is not in scenarios:",
                )
            ],
        )
    target_s = runbook.front.time_to_resolve_s / spec.compress * state.time_scale
    state.runbook = runbook
    state.record.runbook_drill = RunbookRecord(
        spec.path,
        runbook.front.id,
        runbook.front.severity,
        runbook.front.time_to_resolve,
        round(target_s, 3),
    )


def make_drill(state: RunState) -> DrillRunner | None:
    """The drill's executor, sampling ``recovered`` and ``detected`` through the run's probes."""
    spec = state.scenario.runbook
    if state.runbook is None or state.record.runbook_drill is None:
        return None
    assert isinstance(spec, RunbookDrill)

    def sampler(check: Check) -> Callable[[], tuple[bool, object, str]]:
        def sample() -> tuple[bool, object, str]:
            ok, observation, why = state.check(check)
            return ok, observation.value, why

        return sample

    state.drill = DrillRunner(
        state.runbook,
        state.record.runbook_drill,
        env=spec.env,
        context=state.context,
        recovered=sampler(spec.recovered),
        recovered_name=spec.recovered.name,
        detected=sampler(spec.detected) if spec.detected is not None else None,
        interval_s=spec.interval_s,
        time_scale=state.time_scale,
        clock=state.clock,
        now=state.now,
        stop=state.stop,
    )
    return state.drill


def incident_step(scenario: Scenario) -> str | None:
    """The method step the incident starts with: ``incident_starts``, else the first fault or
    load."""
    spec = scenario.runbook
    if not isinstance(spec, RunbookDrill):
        return None
    if spec.incident_starts is not None:
        return spec.incident_starts
    return next((st.name for st in scenario.method if st.fault or st.load), None)


def start_phase(state: RunState, drill: DrillRunner, step: Step, earlier: list[Task]) -> Task:
    """Start a runbook phase on its own thread, after the phases before it."""
    assert step.runbook is not None
    phase = step.runbook
    previous = earlier[-1] if earlier else None

    def run() -> None:
        if previous is not None:
            state.clock.join(previous)
        state.on_event(f"runbook: {step.name}")
        try:
            drill.run_phase(phase)
        except Exception:  # a bug in the drill must fail it, not hang the run
            log.exception("runbook phase %s: unexpected error", phase)
            drill.record.why = f"runbook phase {phase}: unexpected error (see the log)"

    return state.clock.spawn(run, f"cg-runbook-{phase}")
