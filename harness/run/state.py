"""The state of one scenario run, in one object every step of the run is given.

:class:`RunState` holds what the run has (the scenario, its record, the stack once provisioned,
captured variables, the faults in force, the drill) and answers what every step asks: the time
on the scenario's clock, the template context, an observation through a probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.actions import ACTIONS, ActionKind
from harness.clock import Clock
from harness.faults import FAULTS, ActiveFault, FaultKind
from harness.invariants import INVARIANTS, InvariantKind
from harness.journal import ScenarioRecord, StepRecord
from harness.load import LOADS, LoadKind
from harness.probes import PROBES, Observation, ProbeKind, judge
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.registry import Registry
from harness.runbooks.model import Runbook
from harness.runbooks.verify import DrillRunner
from harness.scenario.model import Check, Probe, Scenario

__all__ = ["Kinds", "RunState"]


@dataclass(frozen=True)
class Kinds:
    """The implementations a run uses for each ``type:`` (tests give fakes of some)."""

    faults: Registry[FaultKind] = field(default_factory=lambda: FAULTS)
    probes: Registry[ProbeKind] = field(default_factory=lambda: PROBES)
    actions: Registry[ActionKind] = field(default_factory=lambda: ACTIONS)
    invariants: Registry[InvariantKind] = field(default_factory=lambda: INVARIANTS)
    loads: Registry[LoadKind] = field(default_factory=lambda: LOADS)


@dataclass
class RunState:
    """One scenario run.

    Attributes:
        scenario, path: what runs, and the file it came from.
        run_dir: where its logs and outputs go.
        record: its journal entry, filled as it runs.
        seed, time_scale: the run's.
        clock: time, sleeping and threads (virtual in tests).
        kinds: the implementation of each ``type:``.
        on_event: one line per step, for the live progress.
        on_captured: told of each variable an action captures (the redactor learns secrets).
        stack: what the backend started (None until provisioned).
        variables: ``${vars.NAME}`` captured by actions so far.
        active: faults and loads in force, in the order they started (reverted in reverse).
        runbook, drill: the runbook the scenario drills, and its executor.
        stop: set when the method ends, however it ends: samplers and phases stop.
        fail_fast: end the method at the first assertion or action that failed (a mutation
            run: the verdict is known, the rest of the timeline would only cost time).
        stopped_early: the method ended at such a failure; what was not judged is left out.
    """

    scenario: Scenario
    path: Path
    run_dir: Path
    record: ScenarioRecord
    seed: int
    time_scale: float
    clock: Clock
    kinds: Kinds
    on_event: Callable[[str], None]
    origin: float = 0.0
    on_captured: Callable[[Mapping[str, str]], None] = lambda _values: None
    stack: Stack | None = None
    variables: dict[str, str] = field(default_factory=dict)
    active: list[tuple[StepRecord, ActiveFault]] = field(default_factory=list)
    runbook: Runbook | None = None
    drill: DrillRunner | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    fail_fast: bool = False
    stopped_early: bool = False

    def now(self) -> float:
        """Seconds since the run started, on the run's clock."""
        return self.clock.monotonic() - self.origin

    @property
    def services(self) -> Stack:
        """The provisioned stack (only asked for once provisioning succeeded)."""
        assert self.stack is not None, "asked for the stack before provisioning"
        return self.stack

    def context(self) -> TemplateContext:
        """``${...}`` as of now: the stack's endpoints and the variables captured so far."""
        stack = self.services
        return TemplateContext(
            {n: s.endpoint for n, s in stack.services.items()},
            stack.proxies,
            str(self.run_dir),
            self.seed,
            self.time_scale,
            dict(self.variables),
        )

    def observe(self, probe: Probe) -> Observation:
        """One observation through ``probe``, in the current context."""
        return self.kinds.probes.get_kind(probe.type)(probe, self.services, self.context())

    def check(self, check: Check) -> tuple[bool, Observation, str]:
        """Observe ``check``'s probe and judge it: (holds, observation, why)."""
        observation = self.observe(check.probe)
        ok, why = judge(check.expect, observation)
        return ok, observation, why
