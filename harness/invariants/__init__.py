"""Invariants: what must hold over the whole run, judged after the method against the harness's
own history of what it did and what the system answered.

Each invariant ``type`` is a module of this package that registers an implementation in
:data:`INVARIANTS`:

- ``exactly_once.py`` — every event the system acknowledged has exactly one effect or one dead
  letter, nothing refused has one, nothing never delivered has one;
- ``unique.py`` — a probe's list never holds the same value twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from harness.clock import Clock
from harness.journal import InvariantRecord, StepRecord
from harness.probes import Observation
from harness.registry import Registry
from harness.scenario.model import Invariant, Probe

__all__ = [
    "INVARIANTS",
    "InvariantKind",
    "Observe",
    "as_list",
    "check_invariant",
    "describe",
]

_SHOWN = 5  # violations quoted in a verdict; all are in the record

#: one observation through a probe, in the scenario's current context
Observe = Callable[[Probe], Observation]


class InvariantKind(Protocol):
    """Judges one invariant ``type`` after the method.

    Parameters:
        invariant: its model.
        steps: the scenario's steps, with the history of what the harness did.
        observe: observes the system through a probe.
        time_scale: multiplies its settling time.
        clock: to wait on while it settles.
    """

    def __call__(
        self,
        invariant: Any,
        steps: list[StepRecord],
        observe: Observe,
        /,
        *,
        time_scale: float,
        clock: Clock,
    ) -> InvariantRecord: ...


#: every invariant type, by its YAML ``type``
INVARIANTS: Registry[InvariantKind] = Registry("invariant", __name__)


def check_invariant(
    invariant: Invariant,
    steps: list[StepRecord],
    observe: Observe,
    *,
    time_scale: float,
    clock: Clock,
    kinds: Registry[InvariantKind] = INVARIANTS,
) -> InvariantRecord:
    """Judge ``invariant``."""
    judge = kinds.get_kind(invariant.type)
    return judge(invariant, steps, observe, time_scale=time_scale, clock=clock)


def as_list(observation: Observation, what: str) -> tuple[list[str] | None, str]:
    """A probe's list of values as strings, or None and why not."""
    if observation.error is not None:
        return None, f"{what}: {observation.error}"
    value = observation.value
    if not isinstance(value, list):
        return None, f"{what}: observed {value!r}, not a list (an sql probe needs rows: true)"
    return [str(v) for v in value], ""


def describe(record: InvariantRecord) -> str:
    shown = "; ".join(record.violations[:_SHOWN])
    more = len(record.violations) - _SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")
