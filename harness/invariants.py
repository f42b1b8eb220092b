"""Invariants: what must hold over the whole run, judged against the harness's own history.

The harness records every webhook delivery it made (event id, attempt, kind, the system's
answer). After the method, each invariant compares that history with what the system reports
through a probe:

- ``exactly_once``: every event the system acknowledged (a 2xx to at least one delivery) has
  exactly one effect or one dead letter; an event refused with 4xx on every delivery (a forged
  signature) has none; an event only ever answered with 5xx or a transport error has at most
  one (the provider would retry it); an effect for an event the harness never delivered is
  reported too. Processing is asynchronous, so it is polled until it holds or ``within_s``.
- ``unique``: the probe's list never holds the same value twice (no doubled payment, refund...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.journal import InvariantRecord, StepRecord
from harness.probes import Observation, observe
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.scenario.model import ExactlyOnceInvariant, Invariant, UniqueInvariant

__all__ = [
    "DeliveryLedger",
    "check_invariant",
    "describe",
    "judge_exactly_once",
    "judge_unique",
]

_SHOWN = 5  # violations quoted in a verdict; all are in the record
_LOST = "but no effect and no dead letter (lost)"  # the only violation that time may heal


@dataclass
class DeliveryLedger:
    """What the harness delivered, per event id: the answers the system gave."""

    answers: dict[str, list[int | None]] = field(default_factory=dict)

    @classmethod
    def from_steps(cls, steps: Iterable[StepRecord]) -> DeliveryLedger:
        ledger = cls()
        for step in steps:
            for entry in step.history:
                if "event_id" in entry:
                    ledger.answers.setdefault(str(entry["event_id"]), []).append(
                        entry.get("status")
                    )
        return ledger

    def acknowledged(self) -> set[str]:
        return {e for e, a in self.answers.items() if any(_ok(s) for s in a)}

    def refused(self) -> set[str]:
        return {e for e, a in self.answers.items() if all(_client_error(s) for s in a)}

    def unanswered(self) -> set[str]:
        return set(self.answers) - self.acknowledged() - self.refused()


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _client_error(status: int | None) -> bool:
    return status is not None and 400 <= status < 500


def _as_list(observation: Observation, what: str) -> tuple[list[str] | None, str]:
    if observation.error is not None:
        return None, f"{what}: {observation.error}"
    value = observation.value
    if not isinstance(value, list):
        return None, f"{what}: observed {value!r}, not a list (an sql probe needs rows: true)"
    return [str(v) for v in value], ""


def judge_exactly_once(
    ledger: DeliveryLedger, effects: list[str], dead_letters: list[str]
) -> tuple[list[str], str]:
    """Violations (empty when it holds) and a one-line summary of what was seen."""
    counts = Counter(effects) + Counter(dead_letters)
    dead = set(dead_letters)
    acknowledged, refused, unanswered = (
        ledger.acknowledged(),
        ledger.refused(),
        ledger.unanswered(),
    )
    violations: list[str] = []
    for event in sorted(acknowledged):
        n = counts.get(event, 0)
        if n == 0:
            violations.append(f"{event}: acknowledged, {_LOST}")
        elif n > 1:
            violations.append(f"{event}: acknowledged, {n} effects/dead letters (doubled)")
    for event in sorted(refused):
        if counts.get(event, 0):
            violations.append(f"{event}: refused with 4xx on every delivery, yet has an effect")
    for event in sorted(unanswered):
        if counts.get(event, 0) > 1:
            violations.append(f"{event}: never acknowledged, {counts[event]} effects (doubled)")
    for event in sorted(set(counts) - set(ledger.answers)):
        violations.append(f"{event}: has an effect, but the harness never delivered it")
    summary = (
        f"{len(acknowledged)} acknowledged event(s): "
        f"{sum(1 for e in acknowledged if counts.get(e) == 1 and e not in dead)} with one effect, "
        f"{len(acknowledged & dead)} dead-lettered; {len(refused)} refused; "
        f"{len(unanswered)} never answered with 2xx or 4xx"
    )
    return violations, summary


def judge_unique(values: list[str]) -> tuple[list[str], str]:
    repeated = {v: n for v, n in Counter(values).items() if n > 1}
    violations = [f"{v!r} appears {n} times" for v, n in sorted(repeated.items())]
    return violations, f"{len(values)} value(s), {len(set(values))} distinct"


def check_invariant(
    invariant: Invariant,
    steps: list[StepRecord],
    stack: Stack,
    context: TemplateContext,
    *,
    time_scale: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> InvariantRecord:
    record = InvariantRecord(invariant.name, invariant.type)
    if isinstance(invariant, UniqueInvariant):
        values, problem = _as_list(observe(invariant.probe, stack, context), "probe")
        record.samples = 1
        if values is None:
            record.violations, record.summary = [problem], "could not observe"
        else:
            record.violations, record.summary = judge_unique(values)
        record.status = "failed" if record.violations else "passed"
        return record
    return _exactly_once(invariant, steps, stack, context, time_scale, clock, sleep, record)


def _exactly_once(
    invariant: ExactlyOnceInvariant,
    steps: list[StepRecord],
    stack: Stack,
    context: TemplateContext,
    time_scale: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    record: InvariantRecord,
) -> InvariantRecord:
    ledger = DeliveryLedger.from_steps(steps)
    deadline = clock() + invariant.within_s * time_scale
    while True:
        record.samples += 1
        effects, problem = _as_list(observe(invariant.effects, stack, context), "effects")
        dead: list[str] | None = []
        if effects is not None and invariant.dead_letters is not None:
            dead, problem = _as_list(
                observe(invariant.dead_letters, stack, context), "dead_letters"
            )
        if effects is None or dead is None:
            record.violations, record.summary = [problem], "could not observe"
        else:
            record.violations, record.summary = judge_exactly_once(ledger, effects, dead)
        # Processing is asynchronous: a missing effect may still come; an extra one never goes.
        final = any(not v.endswith(_LOST) for v in record.violations)
        if not record.violations or final or clock() >= deadline:
            break
        sleep(min(invariant.interval_s, max(0.0, deadline - clock())))
    record.status = "failed" if record.violations else "passed"
    return record


def describe(record: InvariantRecord) -> str:
    shown = "; ".join(record.violations[:_SHOWN])
    more = len(record.violations) - _SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")
