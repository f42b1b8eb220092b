"""``exactly_once``, on the history of operations (the webhook deliveries' keys are their
event ids): every event the system acknowledged (a 2xx to at least one of the harness's
deliveries) has exactly one effect or one dead letter; an event refused with 4xx on every
delivery (a forged signature) has none; an event only ever answered with 5xx or a transport
error has at most one (the provider would retry it); an effect for an event the harness never
delivered is reported too. Processing is asynchronous, so it is polled until it holds or
``within_s``."""

from __future__ import annotations

from collections import Counter

from harness.clock import Clock
from harness.history import Ledger
from harness.invariants import INVARIANTS, Observe, as_list
from harness.journal import InvariantRecord, StepRecord
from harness.scenario.model import ExactlyOnceInvariant

__all__ = ["judge_exactly_once"]

_LOST = "but no effect and no dead letter (lost)"  # the only violation that time may heal


def judge_exactly_once(
    ledger: Ledger, effects: list[str], dead_letters: list[str]
) -> tuple[list[str], str]:
    """Violations (empty when it holds) and a one-line summary of what was seen."""
    counts = Counter(effects) + Counter(dead_letters)
    dead = set(dead_letters)
    acknowledged, refused, unanswered = (
        ledger.acknowledged(),
        ledger.refused(),
        ledger.unknown(),
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
    for event in sorted(set(counts) - set(ledger.results)):
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
    ledger = Ledger.from_steps(steps)
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
