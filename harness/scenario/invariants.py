"""Invariants: what must hold over the whole run, judged after the method against the harness's
history of what it did."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.scenario.base import Model, PositiveSeconds
from harness.scenario.probes import Probe

__all__ = ["ExactlyOnceInvariant", "Invariant", "UniqueInvariant"]


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


Invariant = Annotated[ExactlyOnceInvariant | UniqueInvariant, Field(discriminator="type")]
