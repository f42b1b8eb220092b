"""``unique``: the probe's list never holds the same value twice (no doubled payment, refund...)."""

from __future__ import annotations

from collections import Counter

from harness.clock import Clock
from harness.invariants import INVARIANTS, Observe, as_list
from harness.journal import InvariantRecord, StepRecord
from harness.scenario.model import UniqueInvariant

__all__ = ["judge_unique"]


def judge_unique(values: list[str]) -> tuple[list[str], str]:
    repeated = {v: n for v, n in Counter(values).items() if n > 1}
    violations = [f"{v!r} appears {n} times" for v, n in sorted(repeated.items())]
    return violations, f"{len(values)} value(s), {len(set(values))} distinct"


@INVARIANTS.register("unique")
def unique(
    invariant: UniqueInvariant,
    steps: list[StepRecord],
    observe: Observe,
    *,
    time_scale: float,
    clock: Clock,
) -> InvariantRecord:
    record = InvariantRecord(invariant.name, invariant.type)
    values, problem = as_list(observe(invariant.probe), "probe")
    record.samples = 1
    if values is None:
        record.violations, record.summary = [problem], "could not observe"
    else:
        record.violations, record.summary = judge_unique(values)
    record.status = "failed" if record.violations else "passed"
    return record
