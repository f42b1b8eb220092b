"""``acknowledged``: every write the system acknowledged is still there after the fault, nothing
it refused is, and (with ``unique``) nothing was acknowledged twice — judged on the harness's
history of operations, for any system. Writes may take time to become visible, so it is polled
until it holds or ``within_s``."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from harness.clock import Clock
from harness.history import Ledger
from harness.invariants import INVARIANTS, Observe, as_list
from harness.journal import InvariantRecord, StepRecord
from harness.probes import judge
from harness.scenario.model import AcknowledgedInvariant, Check

P = TypeVar("P", bound=BaseModel)

__all__ = ["judge_acknowledged"]

_LOST = "acknowledged, but not there (lost)"  # the only violation time may heal
_SHOWN_KEYS = 10


def _natural(key: str) -> tuple[int, int, str]:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    return shown + (f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else "")


def judge_acknowledged(
    ledger: Ledger,
    present: set[str] | None,
    missing: set[str],
    *,
    refused_absent: bool,
    unique: bool,
) -> tuple[list[str], str]:
    """Violations (empty when it holds) and a summary. ``present``: the keys there now (None
    with a per-key check); ``missing``: acknowledged keys not there."""
    acknowledged, refused, unknown = ledger.acknowledged(), ledger.refused(), ledger.unknown()
    violations = []
    lost = sorted(missing, key=_natural)
    if lost:
        violations.append(f"{len(lost)} key(s) {_LOST}: {_keys(lost)}")
    if present is not None and refused_absent:
        applied = sorted(refused & present, key=_natural)
        if applied:
            violations.append(
                f"{len(applied)} key(s) refused (4xx on every attempt), yet there: {_keys(applied)}"
            )
    if unique:
        twice = ledger.acknowledged_twice()
        if twice:
            named = [f"{k} ({twice[k]} times)" for k in sorted(twice, key=_natural)]
            violations.append(f"{len(twice)} key(s) acknowledged more than once: {_keys(named)}")
    summary = (
        f"{len(acknowledged)} acknowledged key(s), {len(acknowledged) - len(missing)} there; "
        f"{len(refused)} refused; {len(unknown)} unknown (5xx, timeouts)"
    )
    if ledger.keyless:
        summary += f"; {ledger.keyless} operation(s) whose answer named no key"
    return violations, summary


def _missing_by_check(check: Check, keys: set[str], observe: Observe) -> set[str]:
    """The acknowledged keys whose per-key check (``${key}`` in its probe) does not hold."""
    missing = set()
    for key in sorted(keys):
        ok, _why = judge(check.expect, observe(_with_key(check.probe, key)))
        if not ok:
            missing.add(key)
    return missing


def _with_key(probe: P, key: str) -> P:
    """The probe with ``${key}`` replaced in its strings."""

    def swap(value: object) -> object:
        if isinstance(value, str):
            return value.replace("${key}", key)
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    return type(probe).model_validate(swap(probe.model_dump()))


@INVARIANTS.register("acknowledged")
def acknowledged(
    invariant: AcknowledgedInvariant,
    steps: list[StepRecord],
    observe: Observe,
    *,
    time_scale: float,
    clock: Clock,
) -> InvariantRecord:
    record = InvariantRecord(invariant.name, invariant.type)
    ledger = Ledger.from_steps(steps, invariant.steps)
    deadline = clock.monotonic() + invariant.within_s * time_scale
    while True:
        record.samples += 1
        acknowledged = ledger.acknowledged()
        present: set[str] | None = None
        if invariant.present is not None:
            values, problem = as_list(observe(invariant.present), "present")
            if values is None:
                record.violations, record.summary = [problem], "could not observe"
                missing: set[str] | None = None
            else:
                present = set(values)
                missing = acknowledged - present
        else:
            assert invariant.each is not None  # the model requires one of them
            missing = _missing_by_check(invariant.each, acknowledged, observe)
        if missing is not None:
            record.violations, record.summary = judge_acknowledged(
                ledger,
                present,
                missing,
                refused_absent=invariant.refused_absent,
                unique=invariant.unique,
            )
        # Writes may still be on their way: only a lost key heals with time.
        final = any(_LOST not in v for v in record.violations)
        if not record.violations or final or clock.monotonic() >= deadline:
            break
        clock.sleep(min(invariant.interval_s, max(0.0, deadline - clock.monotonic())))
    record.status = "failed" if record.violations else "passed"
    return record
