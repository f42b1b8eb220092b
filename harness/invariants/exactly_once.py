"""``exactly_once``: every event the system acknowledged (a 2xx to at least one of the harness's
deliveries) has exactly one effect or one dead letter; an event refused with 4xx on every
delivery (a forged signature) has none; an event only ever answered with 5xx or a transport
error has at most one (the provider would retry it); an effect for an event the harness never
delivered is reported too. Processing is asynchronous, so it is polled until it holds or
``within_s``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.clock import Clock
from harness.invariants import INVARIANTS, Observe, as_list
from harness.journal import InvariantRecord, StepRecord
from harness.scenario.model import ExactlyOnceInvariant

__all__ = ["DeliveryLedger", "judge_exactly_once"]

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


@INVARIANTS.register("exactly_once")
def exactly_once(
    invariant: ExactlyOnceInvariant,
    steps: list[StepRecord],
    observe: Observe,
    *,
    time_scale: float,
    clock: Clock,
) -> InvariantRecord:
    record = InvariantRecord(invariant.name, invariant.type)
    ledger = DeliveryLedger.from_steps(steps)
    deadline = clock.monotonic() + invariant.within_s * time_scale
    while True:
        record.samples += 1
        effects, problem = as_list(observe(invariant.effects), "effects")
        dead: list[str] | None = []
        if effects is not None and invariant.dead_letters is not None:
            dead, problem = as_list(observe(invariant.dead_letters), "dead_letters")
        if effects is None or dead is None:
            record.violations, record.summary = [problem], "could not observe"
        else:
            record.violations, record.summary = judge_exactly_once(ledger, effects, dead)
        # Processing is asynchronous: a missing effect may still come; an extra one never goes.
        final = any(not v.endswith(_LOST) for v in record.violations)
        if not record.violations or final or clock.monotonic() >= deadline:
            break
        clock.sleep(min(invariant.interval_s, max(0.0, deadline - clock.monotonic())))
    record.status = "failed" if record.violations else "passed"
    return record
