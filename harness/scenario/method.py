"""The method's timeline (faults, actions, loads, runbook phases), what must hold while it runs,
the metrics charted, and the runbook drill."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.scenario.actions import Action, OpKey
from harness.scenario.base import Model, Name, PositiveSeconds, Seconds
from harness.scenario.faults import Fault
from harness.scenario.probes import Check, Probe

__all__ = [
    "Assertion",
    "Load",
    "LoadStage",
    "LocustLoad",
    "Metric",
    "RunbookDrill",
    "RunbookPhase",
    "Step",
]


class LoadStage(Model):
    """One stage of a load shape: hold ``users`` for ``duration_s`` (scaled)."""

    duration_s: PositiveSeconds
    users: int = Field(ge=0)
    spawn_rate: float = Field(default=10.0, gt=0, description="users started per second")


class LocustLoad(Model):
    """Load from Locust, run headless in its own process for the step's ``duration_s``.

    The locustfile's user classes read ``CG_*`` variables from ``env``; ``target_rps`` is checked
    against the rate Locust achieved (within ``tolerance``). With ``arrival_rps`` the load is
    open: requests start on a fixed schedule whatever the answers' latency, the step reports
    the arrivals due beside those started (and those that started late), and the arrivals
    started must reach those due within ``tolerance``. With ``workers``,
    Locust runs in its own master/worker mode: a master and that many worker processes sharing
    the users, its stats and the request history aggregated over all of them; ``remote_workers``
    more are waited for (started by hand on other machines with ``--worker --master-host``, on
    ``master_port``).
    """

    type: Literal["locust"]
    service: Name = Field(description="the service Locust sends traffic to (--host)")
    locustfile: str = "locustfile.py"
    user_classes: list[str] = Field(default_factory=list, description="default: all in the file")
    users: int = Field(default=10, ge=1)
    spawn_rate: float = Field(default=10.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    shape: list[LoadStage] = Field(
        default_factory=list,
        description="stages run one after another (a spike, a ramp); replaces users/spawn_rate",
    )
    max_failure_rate: float | None = Field(
        default=None, ge=0, le=1, description="the scenario fails if more requests fail"
    )
    target_rps: float | None = Field(default=None, gt=0)
    tolerance: float = Field(default=0.2, ge=0, lt=1)
    history: OpKey | None = Field(
        default=None,
        description="record every request as an operation with this key (json_path, "
        "request_path, header or regex), for acknowledged invariants",
    )
    arrival_rps: float | None = Field(
        default=None,
        gt=0,
        description="an open arrival model: requests started per second on a fixed schedule, "
        "however slow the answers (users are then the pool of requests in flight)",
    )
    arrival_late_ms: float = Field(
        default=100.0, gt=0, description="an arrival started later than this is counted late"
    )
    workers: int = Field(
        default=0, ge=0, le=64, description="local Locust worker processes (0: one process)"
    )
    remote_workers: int = Field(
        default=0, ge=0, le=1024, description="workers on other machines the master waits for"
    )
    master_host: str = Field(
        default="127.0.0.1", min_length=1, description="where the master listens for workers"
    )
    master_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="its port (default: a free one; give one for remote workers)",
    )
    workers_timeout_s: PositiveSeconds = Field(
        default=60.0, description="how long the master waits for every worker to connect"
    )

    @model_validator(mode="after")
    def _remote_needs_a_port(self) -> LocustLoad:
        if self.arrival_rps is not None and self.shape:
            raise ValueError(
                "give arrival_rps (a fixed arrival rate) or shape (stages of users), not both"
            )
        if self.remote_workers and self.master_port is None:
            raise ValueError(
                "remote_workers need a master_port they can be started with "
                "(locust --worker --master-host HOST --master-port PORT)"
            )
        return self


#: the load kinds (one today; more join as a union discriminated by ``type``)
Load = LocustLoad

RunbookPhase = Literal["diagnose", "resolve", "rollback"]


class Step(Model):
    """One entry of the method's timeline: a fault, an action, a load or a runbook phase, at
    ``at_s`` after the method starts; a fault with ``duration_s`` is reverted when it ends (else
    at the end of the run).

    ``runbook: diagnose`` runs the runbook's Symptoms and Diagnosis steps, ``resolve`` its
    Resolution steps and then waits for the drill's ``recovered`` check, ``rollback`` its
    Rollback steps. Phases run one after the other on their own thread, never before their
    ``at_s``, so a slow command delays the next phase, not the timeline."""

    name: str = Field(min_length=1)
    at_s: Seconds = 0.0
    duration_s: PositiveSeconds | None = None
    fault: Fault | None = None
    action: Action | None = None
    load: Load | None = None
    runbook: RunbookPhase | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> Step:
        kinds = ("fault", "action", "load", "runbook")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a step has exactly one of {', '.join(kinds)} (got {given or 'none'})"
            )
        if (self.action is not None or self.runbook is not None) and self.duration_s is not None:
            raise ValueError("duration_s applies to faults and load only")
        if self.load is not None and self.duration_s is None:
            raise ValueError("a load step needs duration_s (how long Locust runs)")
        return self


class Assertion(Model):
    """What must hold while the method runs (times from the method's start, scaled).

    ``eventually``: the check passes at some sample before ``within_s``.
    ``always`` / ``never``: the check passes / fails at every sample in ``[from_s, until_s]``.
    """

    name: str = Field(min_length=1)
    type: Literal["eventually", "always", "never"]
    check: Check
    within_s: PositiveSeconds | None = None
    from_s: Seconds = 0.0
    until_s: Seconds | None = None
    interval_s: PositiveSeconds = 0.5

    @model_validator(mode="after")
    def _window(self) -> Assertion:
        if self.type == "eventually" and self.within_s is None:
            raise ValueError("an eventually assertion needs within_s")
        if self.type != "eventually" and self.until_s is None:
            raise ValueError(f"an {self.type} assertion needs until_s")
        if self.until_s is not None and self.until_s < self.from_s:
            raise ValueError(f"until_s {self.until_s} is before from_s {self.from_s}")
        if self.within_s is not None and self.within_s <= self.from_s:
            raise ValueError(
                f"within_s {self.within_s:g} is not after from_s {self.from_s:g}: both are times "
                f"from the method's start (to check within 5 s after {self.from_s:g} s, give "
                f"within_s: {self.from_s + 5:g})"
            )
        return self


class Metric(Model):
    """A number sampled for the report while the method runs (charted with the fault windows):
    queue depth, webhook success rate, alerts fired. Never judged: assertions do that."""

    name: str = Field(min_length=1)
    probe: Probe
    unit: str = Field(default="", description="shown on the chart, e.g. jobs, %, ms")
    interval_s: PositiveSeconds = Field(default=1.0, description="sampling period (scaled)")


class RunbookDrill(Model):
    """The runbook this scenario executes under its fault: the method's ``runbook`` steps say
    when each phase runs; ``recovered`` says when the incident is over.

    Time to resolve runs from the start of the incident (the step named ``incident_starts``,
    default the first fault or load) to the first sample of ``recovered`` that holds after the
    Resolution steps; time to detect, to the first sample of ``detected`` that holds. Its
    target is the runbook's ``time_to_resolve`` divided by ``compress`` (a 30m target with
    compress 100 is 18 s of scenario time), times the run's time scale."""

    path: str = Field(
        min_length=1, description="the runbook file, relative to where chaosgate runs"
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="the on-call's environment for the runbook's commands; values may use ${...}",
    )
    recovered: Check = Field(description="holds once the incident is resolved")
    detected: Check | None = Field(
        default=None,
        description="holds once the incident is detected (an alert fired): time to detect runs "
        "from the incident's start to its first sample that holds",
    )
    compress: float = Field(
        default=1.0, gt=0, description="divides the runbook's time_to_resolve target"
    )
    incident_starts: str | None = Field(
        default=None, description="name of the method step the incident starts with"
    )
    interval_s: PositiveSeconds = Field(
        default=0.5, description="how often recovered and detected are sampled"
    )
