"""The services of a scenario: what runs, how the harness knows it is up, and the proxies in
front of them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.scenario.base import Model, Name, PositiveSeconds

__all__ = ["DatabaseTemplate", "Proxy", "ReadyCheck", "Service"]


class ReadyCheck(Model):
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


class DatabaseTemplate(Model):
    """What a ``postgres`` service's database holds before anything that depends on it starts:
    ``command`` (the system's migrations, a fixture load) run against it once.

    Locally the command runs once per run and every scenario with the same template gets a copy
    of its result (a cluster copied, not migrated again); on Docker it runs against each
    scenario's container. It runs on the harness's machine, like command probes, and may use
    only ``${services.NAME.host|port|url}`` of its own service and ``${env.NAME}``: what it makes
    is shared, so it cannot depend on one scenario's other services.
    """

    command: list[str] = Field(min_length=1, description="run once; it must exit 0")
    env: dict[str, str] = Field(default_factory=dict, description="added to the harness's env")
    timeout_s: PositiveSeconds = 300.0


class Service(Model):
    """One service of the system under test.

    ``kind: process`` runs ``command``; ``redis``, ``postgres`` and ``toxiproxy`` are recipes the
    provisioner knows (a local process, or a container in the Docker backend); ``fake-provider``
    is the harness's fake payment-provider API, whose failures faults schedule;
    ``notify-capture`` records what alerting sends (Slack and Twilio-shaped HTTP on ``url``, SMTP on
    ``smtp_port``; read at ``/_capture/messages``); ``fake-erp`` is a fake ERP stock API with
    outage modes (``stock`` its initial levels; ``chaosgate fake erp`` runs it by hand).
    Each kind is a recipe in ``harness/provision/kinds/``. Strings may use
    ``${...}`` references to other services, proxies and the run (see the loader).
    """

    kind: Literal[
        "process", "redis", "postgres", "toxiproxy", "fake-provider", "notify-capture", "fake-erp"
    ] = "process"
    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    depends_on: list[Name] = Field(default_factory=list)
    ready: ReadyCheck | None = None
    before_start: list[str] | None = Field(
        default=None,
        min_length=1,
        description="kind process: a command run once, with the service's env, before it first "
        "starts (migrations); it must exit 0, and a kill-and-restart does not repeat it",
    )
    ready_timeout_s: PositiveSeconds = 30.0
    stop_signal: Literal["TERM", "INT", "KILL"] = "TERM"
    stop_timeout_s: PositiveSeconds = 10.0
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] | None = Field(
        default=None, description="kind postgres: a database to create; its url points at it"
    )
    stock: dict[str, int] | None = Field(
        default=None, description="kind fake-erp: its initial stock levels, SKU -> level"
    )
    template: DatabaseTemplate | None = Field(
        default=None,
        description="kind postgres: a command (migrations) run once before dependents start; "
        "locally its result is made once per run and copied into each scenario's cluster",
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
        if self.kind != "process" and self.before_start is not None:
            raise ValueError(f"a service of kind {self.kind!r} takes no before_start")
        if self.kind != "postgres" and self.database is not None:
            raise ValueError("only a service of kind 'postgres' takes a database")
        if self.kind != "postgres" and self.template is not None:
            raise ValueError("only a service of kind 'postgres' takes a template")
        if self.kind != "fake-erp" and self.stock is not None:
            raise ValueError("only a service of kind 'fake-erp' takes stock")
        if self.kind != "process" and self.image is not None:
            from harness.provision.kinds import image_setting  # the recipes own their images

            setting = image_setting(self.kind)
            raise ValueError(
                f"a service of kind {self.kind!r} takes its image from the setting {setting}, "
                "not from image:"
            )
        return self


class Proxy(Model):
    """A Toxiproxy proxy in front of a service; the system is pointed at the proxy."""

    upstream: Name = Field(description="the service whose port the proxy forwards to")
