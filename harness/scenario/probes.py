"""Probes (how the harness observes the system) and checks (a probe and what it must see)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.scenario.base import Model, Name, PositiveSeconds, check_regex

__all__ = [
    "Check",
    "CommandProbe",
    "Expect",
    "HttpProbe",
    "Probe",
    "PrometheusProbe",
    "RedisProbe",
    "SqlProbe",
]


class HttpProbe(Model):
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


class CommandProbe(Model):
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
        check_regex(self.regex)
        return self


class SqlProbe(Model):
    type: Literal["sql"]
    service: Name = Field(description="a service of kind postgres")
    query: str = Field(min_length=1, description="the value is the first column of the first row")
    rows: bool = Field(
        default=False, description="the value is the first column of every row, as a list"
    )
    timeout_s: PositiveSeconds = 5.0


class RedisProbe(Model):
    type: Literal["redis"]
    service: Name = Field(description="a service of kind redis")
    command: list[str] = Field(min_length=1, description="e.g. [LLEN, dramatiq:orders]")
    timeout_s: PositiveSeconds = 5.0


class PrometheusProbe(Model):
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


class Expect(Model):
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


class Check(Model):
    name: str = Field(min_length=1)
    probe: Probe
    expect: Expect
