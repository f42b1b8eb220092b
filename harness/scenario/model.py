"""The scenario model: what a scenario file may say, validated field by field.

These pydantic models are the single definition of the format: the loader validates against
them, and ``chaosgate schema`` publishes the JSON Schema generated from them. Every duration is
in seconds and says so in its name (``*_s``); the run's time scale multiplies them.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import Field, model_validator

from harness.scenario.actions import (
    Action,
    CommandAction,
    HttpAction,
    OpKey,
    SqlAction,
    WebhookEventSpec,
    WebhooksAction,
)
from harness.scenario.base import Model, Name, Seconds
from harness.scenario.faults import (
    DisconnectFault,
    Fault,
    KillFault,
    PauseFault,
    ProviderErrorsFault,
    ProxyDownFault,
    RestartFault,
    StopFault,
    ToxicFault,
)
from harness.scenario.invariants import (
    AcknowledgedInvariant,
    ExactlyOnceInvariant,
    Invariant,
    UniqueInvariant,
)
from harness.scenario.method import (
    Assertion,
    Load,
    LoadStage,
    LocustLoad,
    Metric,
    RunbookDrill,
    RunbookPhase,
    Step,
)
from harness.scenario.probes import (
    Check,
    CommandProbe,
    Expect,
    HttpProbe,
    Probe,
    PrometheusProbe,
    RedisProbe,
    SqlProbe,
)
from harness.scenario.services import Proxy, ReadyCheck, Service

__all__ = [
    "AcknowledgedInvariant",
    "Action",
    "Assertion",
    "Check",
    "CommandAction",
    "CommandProbe",
    "DisconnectFault",
    "ExactlyOnceInvariant",
    "Expect",
    "Fault",
    "HttpAction",
    "HttpProbe",
    "Invariant",
    "KillFault",
    "Load",
    "LoadStage",
    "LocustLoad",
    "Metric",
    "OpKey",
    "PauseFault",
    "Probe",
    "PrometheusProbe",
    "ProviderErrorsFault",
    "Proxy",
    "ProxyDownFault",
    "ReadyCheck",
    "RedisProbe",
    "RestartFault",
    "RunbookDrill",
    "RunbookPhase",
    "Scenario",
    "Service",
    "SqlAction",
    "SqlProbe",
    "Step",
    "StopFault",
    "ToxicFault",
    "UniqueInvariant",
    "WebhookEventSpec",
    "WebhooksAction",
]


class Scenario(Model):
    """One chaos scenario.

    Strings may use references, checked when the file loads: ``${services.NAME.host|port|url}``
    (a notify-capture service also has ``smtp_port``), ``${proxies.NAME.host|port|url}``,
    ``${vars.NAME}`` (captured by an http action), ``${run.dir}``, ``${run.seed}``,
    ``${env.NAME}`` (the harness's environment), ``${scaled:SECONDS}`` (times the time scale),
    and ``${key}`` in an acknowledged invariant's ``each`` check. Times are seconds from the
    method's start (``at_s``, ``from_s``, ``until_s``, ``within_s``), scaled by the run's time
    scale; a step later than ``tolerance_s`` errors the run."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    title: str = Field(min_length=1)
    description: str = ""
    runbook: str | RunbookDrill | None = Field(
        default=None,
        description="the runbook it verifies: a path (named only), or a drill that executes it",
    )
    services: dict[Name, Service] = Field(min_length=1)
    proxies: dict[Name, Proxy] = Field(default_factory=dict)
    setup: list[Action] = Field(
        default_factory=list, description="actions after provisioning, before the steady state"
    )
    steady_state: list[Check] = Field(default_factory=list)
    method: list[Step] = Field(default_factory=list)
    assertions: list[Assertion] = Field(default_factory=list)
    invariants: list[Invariant] = Field(
        default_factory=list,
        description="checked after the method against the harness's history of operations",
    )
    metrics: list[Metric] = Field(
        default_factory=list, description="sampled while the method runs, for the report's charts"
    )
    rollbacks: list[Action] = Field(
        default_factory=list, description="always run at the end, after faults are reverted"
    )
    exclusive: bool = Field(
        default=False,
        description="it needs the machine alone (a flood that measures rates): with --jobs, it "
        "runs by itself after the others",
    )
    tolerance_s: Seconds = Field(
        default=0.5,
        description="how much later than scheduled a step may start, or a timed fault end, "
        "before the run errors (the harness could not run the scenario as written); not scaled",
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> Scenario:
        problems: list[str] = []
        for name, service in self.services.items():
            for dep in service.depends_on:
                if dep not in self.services:
                    problems.append(f"services.{name}.depends_on names unknown service {dep!r}")
                if dep == name:
                    problems.append(f"services.{name} depends on itself")
        for name, proxy in self.proxies.items():
            if proxy.upstream not in self.services:
                problems.append(f"proxies.{name}.upstream names unknown service {proxy.upstream!r}")
        if self.proxies and not any(s.kind == "toxiproxy" for s in self.services.values()):
            problems.append("proxies need a service of kind toxiproxy")
        for where, target in self._service_references():
            if target not in self.services:
                problems.append(f"{where} names unknown service {target!r}")
        for i, step in enumerate(self.method):
            proxy_name = getattr(step.fault, "proxy", None)
            if isinstance(proxy_name, str) and proxy_name not in self.proxies:
                problems.append(f"method.{i}.fault.proxy names unknown proxy {proxy_name!r}")
        problems.extend(self._drill_problems())
        cycle = _cycle(self.services)
        if cycle:
            problems.append(f"services depend on each other in a cycle: {' -> '.join(cycle)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def expected_method_s(self) -> float:
        """How long the method takes as written (unscaled), at the least: every step has run
        and ended, every always or never window has closed and every eventually window has
        opened (an eventually is decided when it passes, most often soon after). Slow steps
        make it longer; it only orders work, as when ``--jobs`` starts the longest first."""
        ends = [0.0]
        for step in self.method:
            ends.append(step.at_s + (step.duration_s or 0.0))
        for assertion in self.assertions:
            is_window = assertion.type != "eventually"
            ends.append((assertion.until_s or 0.0) if is_window else assertion.from_s)
        return max(ends)

    @property
    def runbook_path(self) -> str | None:
        return self.runbook.path if isinstance(self.runbook, RunbookDrill) else self.runbook

    def _drill_problems(self) -> list[str]:
        phases = {step.runbook: step for step in self.method if step.runbook is not None}
        drill = self.runbook if isinstance(self.runbook, RunbookDrill) else None
        if drill is None:
            return (
                ["method has runbook steps: make runbook a drill (path:, env:, recovered:)"]
                if phases
                else []
            )
        problems = []
        counted = Counter(step.runbook for step in self.method if step.runbook is not None)
        for phase in ("diagnose", "resolve", "rollback"):
            if phase not in phases:
                problems.append(f"the runbook drill needs a method step with runbook: {phase}")
            elif counted[phase] > 1:
                problems.append(f"method has more than one runbook: {phase} step")
        at = [phases[p].at_s for p in ("diagnose", "resolve", "rollback") if p in phases]
        if at != sorted(at):
            problems.append("runbook phases run in order: diagnose, resolve, rollback (at_s)")
        names = [step.name for step in self.method]
        if drill.incident_starts is not None and drill.incident_starts not in names:
            problems.append(
                f"runbook.incident_starts names no method step: {drill.incident_starts!r}"
            )
        if drill.incident_starts is None and not any(s.fault or s.load for s in self.method):
            problems.append("the runbook drill needs a fault or load step (or incident_starts)")
        return problems

    def _service_references(self) -> list[tuple[str, str]]:
        refs: list[tuple[str, str | None]] = []
        for i, check in enumerate(self.steady_state):
            refs.append((f"steady_state.{i}.probe.service", getattr(check.probe, "service", None)))
        for i, assertion in enumerate(self.assertions):
            refs.append(
                (
                    f"assertions.{i}.check.probe.service",
                    getattr(assertion.check.probe, "service", None),
                )
            )
        for i, invariant in enumerate(self.invariants):
            for field_name in ("effects", "dead_letters", "probe"):
                probe = getattr(invariant, field_name, None)
                refs.append(
                    (f"invariants.{i}.{field_name}.service", getattr(probe, "service", None))
                )
        for i, step in enumerate(self.method):
            thing = step.fault or step.action or step.load
            refs.append((f"method.{i}.service", getattr(thing, "service", None)))
        for i, metric in enumerate(self.metrics):
            refs.append((f"metrics.{i}.probe.service", getattr(metric.probe, "service", None)))
        if isinstance(self.runbook, RunbookDrill):
            probe = self.runbook.recovered.probe
            refs.append(("runbook.recovered.probe.service", getattr(probe, "service", None)))
        for section in ("setup", "rollbacks"):
            for i, action in enumerate(getattr(self, section)):
                refs.append((f"{section}.{i}.service", getattr(action, "service", None)))
        return [(where, target) for where, target in refs if isinstance(target, str)]


def _cycle(services: dict[str, Service]) -> list[str]:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for dep in services[name].depends_on:
            if dep not in services or dep == name:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in services:
        if name not in state and (found := visit(name)):
            return found
    return []
