"""Invariants judged against the harness's delivery history: each kind of violation is found,
and a run that kept its promises passes."""

from __future__ import annotations

from typing import Any

from harness.history import Ledger
from harness.invariants.exactly_once import judge_exactly_once
from harness.invariants.unique import judge_unique
from harness.journal import StepRecord


def step(*deliveries: tuple[str, int | None]) -> StepRecord:
    history: list[dict[str, Any]] = [
        {"event_id": e, "status": s, "attempt": n + 1, "kind": "first"}
        for n, (e, s) in enumerate(deliveries)
    ]
    return StepRecord("deliveries", "action", 0.0, history=history)


def ledger() -> Ledger:
    return Ledger.from_steps(
        [
            step(("evt_a", 200), ("evt_a", 200), ("evt_b", 503), ("evt_b", 200)),
            step(("evt_forged", 400), ("evt_lost_conn", None), ("evt_5xx", 500)),
            StepRecord("a command", "action", 0.0),  # no history: ignored
        ]
    )


def test_the_ledger_sorts_events_by_the_answers_they_got() -> None:
    book = ledger()
    assert book.acknowledged() == {"evt_a", "evt_b"}
    assert book.refused() == {"evt_forged"}
    assert book.unknown() == {"evt_lost_conn", "evt_5xx"}


def test_one_effect_or_one_dead_letter_per_acknowledged_event_holds() -> None:
    violations, summary = judge_exactly_once(ledger(), ["evt_a", "evt_5xx"], ["evt_b"])
    assert violations == []
    assert summary.startswith("2 acknowledged event(s): 1 with one effect, 1 dead-lettered")


def test_a_lost_event_is_a_violation() -> None:
    violations, _ = judge_exactly_once(ledger(), ["evt_a"], [])
    assert violations == ["evt_b: acknowledged, but no effect and no dead letter (lost)"]


def test_a_doubled_effect_is_a_violation() -> None:
    violations, _ = judge_exactly_once(ledger(), ["evt_a", "evt_a", "evt_b"], [])
    assert violations == ["evt_a: acknowledged, 2 effects/dead letters (doubled)"]
    # An effect and a dead letter for the same event count as two.
    violations, _ = judge_exactly_once(ledger(), ["evt_a", "evt_b"], ["evt_b"])
    assert violations == ["evt_b: acknowledged, 2 effects/dead letters (doubled)"]


def test_an_effect_of_a_refused_or_unknown_event_is_a_violation() -> None:
    violations, _ = judge_exactly_once(ledger(), ["evt_a", "evt_b", "evt_forged", "evt_x"], [])
    assert violations == [
        "evt_forged: refused with 4xx on every delivery, yet has an effect",
        "evt_x: has an effect, but the harness never delivered it",
    ]


def test_an_unanswered_event_may_have_one_effect_never_two() -> None:
    base = ["evt_a", "evt_b"]
    assert judge_exactly_once(ledger(), [*base, "evt_5xx"], [])[0] == []
    violations, _ = judge_exactly_once(ledger(), [*base, "evt_5xx", "evt_5xx"], [])
    assert violations == ["evt_5xx: never acknowledged, 2 effects (doubled)"]


def test_unique_names_each_repeated_value() -> None:
    assert judge_unique(["pi_1", "pi_2"]) == ([], "2 value(s), 2 distinct")
    violations, summary = judge_unique(["pi_1", "pi_2", "pi_1", "pi_1"])
    assert violations == ["'pi_1' appears 3 times"]
    assert summary == "4 value(s), 2 distinct"
