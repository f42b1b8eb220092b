"""The scenario model: what a scenario file may say, validated field by field.

These pydantic models are the single definition of the format: the loader validates against
them, and ``chaosgate schema`` publishes the JSON Schema generated from them. Every duration is
in seconds and says so in its name (``*_s``); the run's time scale multiplies them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
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
    "LoadStage",
    "LocustLoad",
    "Metric",
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

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadyCheck(_Model):
    """How the harness knows a service is up: exactly one of ``http``, ``tcp``, ``command``."""

    http: str | None = Field(default=None, description="path answered with 2xx on the service port")
    tcp: bool | None = Field(default=None, description="the service port accepts connections")
    command: list[str] | None = Field(default=None, min_length=1, description="exits 0")

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadyCheck:
        given = [k for k in ("http", "tcp", "command") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of http, tcp, command (got {given or 'none'})")
        return self


#: where the container backend takes each recipe's image from (harness/provision/images.py)
_IMAGE_SETTINGS = {
    "redis": "CHAOSGATE_REDIS_IMAGE",
    "postgres": "CHAOSGATE_POSTGRES_IMAGE",
    "toxiproxy": "CHAOSGATE_TOXIPROXY_IMAGE",
    "fake-provider": "CHAOSGATE_HARNESS_IMAGE",
    "notify-capture": "CHAOSGATE_HARNESS_IMAGE",
}


class Service(_Model):
    """One service of the system under test.

    ``kind: process`` runs ``command``; ``redis``, ``postgres`` and ``toxiproxy`` are recipes the
    provisioner knows (a local process, or a container in the Docker backend); ``fake-provider``
    is the harness's fake payment-provider API, whose failures faults schedule;
    ``notify-capture`` records what alerting sends (Slack and Twilio-shaped HTTP on ``url``, SMTP on
    ``smtp_port``; read at ``/_capture/messages``). Strings may use
    ``${...}`` references to other services, proxies and the run (see the loader).
    """

    kind: Literal[
        "process", "redis", "postgres", "toxiproxy", "fake-provider", "notify-capture"
    ] = "process"
    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    depends_on: list[Name] = Field(default_factory=list)
    ready: ReadyCheck | None = None
    ready_timeout_s: PositiveSeconds = 30.0
    stop_signal: Literal["TERM", "INT", "KILL"] = "TERM"
    stop_timeout_s: PositiveSeconds = 10.0
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] | None = Field(
        default=None, description="kind postgres: a database to create; its url points at it"
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        description="kind process, --env docker: the image that has the command "
        "(default: CHAOSGATE_APP_IMAGE); other kinds take their image from the settings",
    )

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Service:
        if self.kind == "process" and self.command is None:
            raise ValueError("a service of kind 'process' needs a command")
        if self.kind != "process" and self.command is not None:
            raise ValueError(f"a service of kind {self.kind!r} takes no command")
        if self.kind != "postgres" and self.database is not None:
            raise ValueError("only a service of kind 'postgres' takes a database")
        if self.kind != "process" and self.image is not None:
            setting = _IMAGE_SETTINGS[self.kind]
            raise ValueError(
                f"a service of kind {self.kind!r} takes its image from the setting {setting}, "
                "not from image:"
            )
        return self


class Proxy(_Model):
    """A Toxiproxy proxy in front of a service; the system is pointed at the proxy."""

    upstream: Name = Field(description="the service whose port the proxy forwards to")


class HttpProbe(_Model):
    type: Literal["http"]
    service: Name
    path: str = "/"
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    json_body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    json_path: str | None = Field(
        default=None, description="dotted path into the JSON answer; else the value is the status"
    )
    timeout_s: PositiveSeconds = 5.0


class CommandProbe(_Model):
    type: Literal["command"]
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    regex: str | None = Field(
        default=None,
        description="the value is group 1 (or the whole match) of this regex on the output; "
        "else the exit code",
    )
    timeout_s: PositiveSeconds = 30.0

    @model_validator(mode="after")
    def _regex_compiles(self) -> CommandProbe:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
        return self


class SqlProbe(_Model):
    type: Literal["sql"]
    service: Name = Field(description="a service of kind postgres")
    query: str = Field(min_length=1, description="the value is the first column of the first row")
    rows: bool = Field(
        default=False, description="the value is the first column of every row, as a list"
    )
    timeout_s: PositiveSeconds = 5.0


class RedisProbe(_Model):
    type: Literal["redis"]
    service: Name = Field(description="a service of kind redis")
    command: list[str] = Field(min_length=1, description="e.g. [LLEN, dramatiq:orders]")
    timeout_s: PositiveSeconds = 5.0


class PrometheusProbe(_Model):
    """A sample from a service's Prometheus text exposition (e.g. ``/metrics``)."""

    type: Literal["prometheus"]
    service: Name
    path: str = "/metrics"
    metric: str = Field(min_length=1, description="sample name, e.g. webhooks_received_total")
    labels: dict[str, str] = Field(default_factory=dict, description="labels the sample must have")
    timeout_s: PositiveSeconds = 5.0


Probe = Annotated[
    HttpProbe | CommandProbe | SqlProbe | RedisProbe | PrometheusProbe,
    Field(discriminator="type"),
]


class Expect(_Model):
    """What a probe's value must be; every given condition must hold."""

    equals: Any = None
    min: float | None = None
    max: float | None = None
    matches: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if self.equals is None and self.min is None and self.max is None and self.matches is None:
            raise ValueError("give at least one of equals, min, max, matches")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Check(_Model):
    name: str = Field(min_length=1)
    probe: Probe
    expect: Expect


class CommandAction(_Model):
    """Run a command; it must exit with ``exit_code``."""

    type: Literal["command"]
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    exit_code: int = 0
    timeout_s: PositiveSeconds = 60.0


class HttpAction(_Model):
    """Send a request to a service; ``capture`` saves JSON fields as ``${vars.NAME}``."""

    type: Literal["http"]
    service: Name
    path: str = "/"
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    json_body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    status: int | None = Field(default=None, description="expected status; default: any 2xx")
    capture: dict[Name, str] = Field(default_factory=dict, description="var -> dotted JSON path")
    timeout_s: PositiveSeconds = 10.0


class SqlAction(_Model):
    """Run SQL statements on a ``postgres`` service, in one transaction, as its superuser: a bad
    deploy's migration, a hand edit, tampering that the system must detect."""

    type: Literal["sql"]
    service: Name = Field(description="a service of kind postgres")
    statements: list[str] = Field(min_length=1, description="run in order; strings may use ${...}")
    timeout_s: PositiveSeconds = 10.0


class WebhookEventSpec(_Model):
    type: str = Field(min_length=1, description="e.g. payment_intent.succeeded")
    object: dict[str, Any] = Field(description="data.object of the event; strings may use ${...}")
    id: str | None = Field(default=None, description="default: drawn from the run's seed")


class WebhooksAction(_Model):
    """Deliver signed webhook events the way providers do: at least once, as repeated requests
    or re-signed retries, in order or shuffled, with bad signatures mixed in.

    Stripe deliveries are signed with ``secret``. PayPal deliveries are signed with the key of
    the ``signer`` service (a ``fake-provider``, which serves the matching certificate) for the
    webhook ``webhook_id``.
    """

    type: Literal["webhooks"]
    service: Name
    provider: Literal["stripe", "paypal"] = "stripe"
    path: str | None = Field(default=None, description="default: /webhooks/<provider>")
    secret: str | None = Field(default=None, min_length=1, description="Stripe signing secret")
    signer: Name | None = Field(default=None, description="PayPal: the fake-provider service")
    webhook_id: str | None = Field(default=None, description="PayPal: the webhook id")
    events: list[WebhookEventSpec] = Field(min_length=1)
    copies: int = Field(default=1, ge=1, le=100, description="deliveries of each event")
    resign: bool = Field(
        default=True,
        description="copies after the first are signed anew (a provider retry); else the very "
        "same request is repeated (a loop)",
    )
    shuffle: bool = Field(default=False, description="deliver in a seeded random order")
    bad_signatures: int = Field(default=0, ge=0, description="extra deliveries signed wrongly")
    burst: int = Field(default=1, ge=1, description="deliveries sent back to back, then a pause")
    pace_s: Seconds = Field(
        default=0.0, description="pause after each burst (scaled); 0 sends all at once"
    )
    status: int = Field(default=200, description="expected answer to each good delivery")
    timeout_s: PositiveSeconds = 10.0

    @model_validator(mode="after")
    def _signing(self) -> WebhooksAction:
        if self.provider == "stripe" and not self.secret:
            raise ValueError("Stripe deliveries need secret")
        if self.provider == "paypal" and not (self.signer and self.webhook_id):
            raise ValueError(
                "PayPal deliveries need signer (a fake-provider service) and webhook_id"
            )
        return self


Action = Annotated[
    CommandAction | HttpAction | SqlAction | WebhooksAction, Field(discriminator="type")
]


class ProxyDownFault(_Model):
    """Disable a proxy: connections through it are refused (Toxiproxy ``enabled: false``)."""

    type: Literal["proxy_down"]
    proxy: Name


class ToxicFault(_Model):
    """Add a Toxiproxy toxic to a proxy (latency, bandwidth, timeout, reset_peer, ...)."""

    type: Literal["toxic"]
    proxy: Name
    toxic: Literal[
        "latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data"
    ]
    attributes: dict[str, float] = Field(default_factory=dict)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)


class KillFault(_Model):
    """SIGKILL a service mid-work (its process group, or its container); with ``restart`` it is
    started again (same command and readiness check) when the step's duration ends, or when the
    method ends."""

    type: Literal["kill"]
    service: Name
    restart: bool = True


class StopFault(_Model):
    """Stop a service gracefully (its stop signal, then SIGKILL after ``stop_timeout_s``); with
    ``start`` it is started again when the step's duration ends."""

    type: Literal["stop"]
    service: Name
    start: bool = True


class RestartFault(_Model):
    """Restart a service at once (stop, start, wait until ready): a deploy or a crash loop."""

    type: Literal["restart"]
    service: Name


class PauseFault(_Model):
    """Freeze a service (SIGSTOP its process group, or pause its container); it resumes when the
    step's duration ends."""

    type: Literal["pause"]
    service: Name


class DisconnectFault(_Model):
    """Cut a container off the run's network (``--env docker`` only): its peers cannot reach it
    nor it them; reconnected, under the same name, when the step's duration ends."""

    type: Literal["disconnect"]
    service: Name


class ProviderErrorsFault(_Model):
    """Make a ``fake-provider`` service fail calls: a seeded ``rate`` or a cycling ``pattern``
    of E (500), T (hang ``timeout_s``, then 500) and O (ok)."""

    type: Literal["provider_errors"]
    service: Name
    rate: float | None = Field(default=None, ge=0, le=1)
    pattern: Annotated[str, Field(pattern=r"^[ETO]+$")] | None = None
    timeout_s: PositiveSeconds = 5.0

    @model_validator(mode="after")
    def _rate_or_pattern(self) -> ProviderErrorsFault:
        if (self.rate is None) == (self.pattern is None):
            raise ValueError("give exactly one of rate, pattern")
        return self


Fault = Annotated[
    ProxyDownFault
    | ToxicFault
    | KillFault
    | StopFault
    | RestartFault
    | PauseFault
    | DisconnectFault
    | ProviderErrorsFault,
    Field(discriminator="type"),
]


class LoadStage(_Model):
    """One stage of a load shape: hold ``users`` for ``duration_s`` (scaled)."""

    duration_s: PositiveSeconds
    users: int = Field(ge=0)
    spawn_rate: float = Field(default=10.0, gt=0, description="users started per second")


class LocustLoad(_Model):
    """Load from Locust, run headless in its own process for the step's ``duration_s``.

    The locustfile's user classes read ``CG_*`` variables from ``env``; ``target_rps`` is checked
    against the rate Locust achieved (within ``tolerance``).
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


RunbookPhase = Literal["diagnose", "resolve", "rollback"]


class Step(_Model):
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
    load: LocustLoad | None = None
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


class Assertion(_Model):
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
        return self


class ExactlyOnceInvariant(_Model):
    """Every event the system acknowledged (a 2xx answer to one of the harness's webhook
    deliveries) has exactly one effect or one dead letter, and nothing the system refused or
    never received has any. Checked against the delivery history the harness recorded."""

    type: Literal["exactly_once"]
    name: str = Field(min_length=1)
    effects: Probe = Field(description="a list of event ids, one per effect (e.g. sql, rows)")
    dead_letters: Probe | None = Field(default=None, description="a list of dead-lettered ids")
    within_s: PositiveSeconds = Field(
        default=15.0, description="how long processing may take to settle (scaled)"
    )
    interval_s: PositiveSeconds = 0.5


class UniqueInvariant(_Model):
    """No duplicate effect: the probe's list never holds the same value twice."""

    type: Literal["unique"]
    name: str = Field(min_length=1)
    probe: Probe = Field(description="a list, e.g. an sql probe with rows: true")


Invariant = Annotated[ExactlyOnceInvariant | UniqueInvariant, Field(discriminator="type")]


class Metric(_Model):
    """A number sampled for the report while the method runs (charted with the fault windows):
    queue depth, webhook success rate, alerts fired. Never judged: assertions do that."""

    name: str = Field(min_length=1)
    probe: Probe
    unit: str = Field(default="", description="shown on the chart, e.g. jobs, %, ms")
    interval_s: PositiveSeconds = Field(default=1.0, description="sampling period (scaled)")


class RunbookDrill(_Model):
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


class Scenario(_Model):
    """One chaos scenario."""

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
