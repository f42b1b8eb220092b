"""The order state machine, as a table and under random event sequences (Hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.errors import IllegalTransition
from resilience.shop.orders import (
    FINAL_STATUSES,
    TRANSITIONS,
    OrderEvent,
    OrderStatus,
    allowed_events,
    next_status,
)

S, E = OrderStatus, OrderEvent

# What the business allows, written independently of the implementation's table.
LEGAL = {
    (S.PENDING, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.PENDING, E.PAYMENT_FAILED): S.FAILED,
    (S.PAID, E.FULFIL): S.FULFILLED,
    **{
        (s, E.REFUND_PARTIAL): S.PARTIALLY_REFUNDED
        for s in (S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED)
    },
    **{(s, E.REFUND_FULL): S.REFUNDED for s in (S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED)},
}


@pytest.mark.parametrize(("status", "event"), list(itertools.product(S, E)))
def test_every_status_event_pair(status: OrderStatus, event: OrderEvent) -> None:
    if (status, event) in LEGAL:
        assert next_status(status, event) is LEGAL[(status, event)]
    else:
        with pytest.raises(IllegalTransition) as info:
            next_status(status, event)
        assert info.value.status == status.value
        assert info.value.event == event.value
        assert info.value.allowed == tuple(e.value for e in allowed_events(status))
        assert repr(status.value) in str(info.value) and repr(event.value) in str(info.value)


def test_final_statuses_are_failed_and_refunded() -> None:
    assert {S.FAILED, S.REFUNDED} == FINAL_STATUSES
    assert dict(TRANSITIONS) == LEGAL


@given(st.lists(st.sampled_from(list(E)), max_size=40))
def test_random_event_sequences_never_reach_an_illegal_state(events: list[OrderEvent]) -> None:
    status, history = S.PENDING, [S.PENDING]
    for event in events:
        try:
            new = next_status(status, event)
        except IllegalTransition:
            continue  # refused: the status is unchanged
        assert (status, event) in LEGAL
        status = new
        history.append(status)

    # Money only moves forward: nothing is fulfilled or refunded unless it was paid first,
    # and nothing leaves a final status.
    if any(s in {S.FULFILLED, S.PARTIALLY_REFUNDED, S.REFUNDED} for s in history):
        assert S.PAID in history
    assert S.FAILED not in history or history[-1] is S.FAILED
    assert S.REFUNDED not in history or history[-1] is S.REFUNDED
    assert not ({S.FAILED, S.PAID} <= set(history))
