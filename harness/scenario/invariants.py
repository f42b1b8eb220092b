"""Invariants: what must hold over the whole run, judged after the method against the harness's
history of what it did."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.scenario.base import Model, PositiveSeconds
from harness.scenario.probes import Check, Probe

__all__ = ["AcknowledgedInvariant", "ExactlyOnceInvariant", "Invariant", "UniqueInvariant"]


class ExactlyOnceInvariant(Model):
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


class UniqueInvariant(Model):
    """No duplicate effect: the probe's list never holds the same value twice."""

    type: Literal["unique"]
    name: str = Field(min_length=1)
    probe: Probe = Field(description="a list, e.g. an sql probe with rows: true")


class AcknowledgedInvariant(Model):
    """Every write the system acknowledged is still there after the fault — for any system.

    The harness's history of operations (HTTP actions and webhook deliveries, each request of a
    Locust load with ``history:``, commands with a ``key:``) says, per key, whether the system
    acknowledged it (2xx), refused it (4xx) or left it unknown (5xx, a timeout, a transport
    error). After the method, every acknowledged key must be present — listed by ``present``
    (a probe whose value is the list of keys there now), or passing ``each`` (a check run per
    key, ``${key}`` in it). With ``present``, nothing refused may be there either
    (``refused_absent``); with ``unique``, no key may be acknowledged twice. A violation names
    the keys."""

    type: Literal["acknowledged"]
    name: str = Field(min_length=1)
    steps: list[str] = Field(
        default_factory=list, description="the method steps whose operations count (default: all)"
    )
    present: Probe | None = Field(default=None, description="a list of the keys present now")
    each: Check | None = Field(default=None, description="checked once per acknowledged key")
    refused_absent: bool = True
    unique: bool = False
    within_s: PositiveSeconds = Field(
        default=15.0, description="how long writes may take to become visible (scaled)"
    )
    interval_s: PositiveSeconds = 0.5

    @model_validator(mode="after")
    def _present_or_each(self) -> AcknowledgedInvariant:
        if (self.present is None) == (self.each is None):
            raise ValueError(
                "give exactly one of present (a list probe) and each (a check per key)"
            )
        return self


Invariant = Annotated[
    ExactlyOnceInvariant | UniqueInvariant | AcknowledgedInvariant, Field(discriminator="type")
]
