"""Faults: what the harness breaks, each reverted when its step's duration ends."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.scenario.base import Model, Name, PositiveSeconds

__all__ = [
    "DisconnectFault",
    "Fault",
    "KillFault",
    "PauseFault",
    "ProviderErrorsFault",
    "ProxyDownFault",
    "RestartFault",
    "StopFault",
    "ToxicFault",
]


class ProxyDownFault(Model):
    """Disable a proxy: connections through it are refused (Toxiproxy ``enabled: false``)."""

    type: Literal["proxy_down"]
    proxy: Name


class ToxicFault(Model):
    """Add a Toxiproxy toxic to a proxy (latency, bandwidth, timeout, reset_peer, ...)."""

    type: Literal["toxic"]
    proxy: Name
    toxic: Literal[
        "latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data"
    ]
    attributes: dict[str, float] = Field(default_factory=dict)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)


class KillFault(Model):
    """SIGKILL a service mid-work (its process group, or its container); with ``restart`` it is
    started again (same command and readiness check) when the step's duration ends, or when the
    method ends."""

    type: Literal["kill"]
    service: Name
    restart: bool = True


class StopFault(Model):
    """Stop a service gracefully (its stop signal, then SIGKILL after ``stop_timeout_s``); with
    ``start`` it is started again when the step's duration ends."""

    type: Literal["stop"]
    service: Name
    start: bool = True


class RestartFault(Model):
    """Restart a service at once (stop, start, wait until ready): a deploy or a crash loop."""

    type: Literal["restart"]
    service: Name


class PauseFault(Model):
    """Freeze a service (SIGSTOP its process group, or pause its container); it resumes when the
    step's duration ends."""

    type: Literal["pause"]
    service: Name


class DisconnectFault(Model):
    """Cut a container off the run's network (``--env docker`` only): its peers cannot reach it
    nor it them; reconnected, under the same name, when the step's duration ends."""

    type: Literal["disconnect"]
    service: Name


class ProviderErrorsFault(Model):
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
