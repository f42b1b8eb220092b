"""The order state machine: which events an order in each status may take.

::

    pending ──payment_succeeded──▶ paid ──fulfil──▶ fulfilled
       │                            │                  │
       └──payment_failed──▶ failed  └──┬───────────────┘
                                       ├─refund_partial─▶ partially_refunded ─┐
                                       └─refund_full────▶ refunded ◀──────────┘

``failed`` and ``refunded`` are final. The table below is the whole truth; nothing else in the
service changes an order's status without going through :func:`next_status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from resilience.errors import IllegalTransition

__all__ = [
    "FINAL_STATUSES",
    "TRANSITIONS",
    "OrderEvent",
    "OrderStatus",
    "allowed_events",
    "next_status",
]


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class OrderEvent(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    FULFIL = "fulfil"
    REFUND_PARTIAL = "refund_partial"
    REFUND_FULL = "refund_full"


_S, _E = OrderStatus, OrderEvent

TRANSITIONS: Mapping[tuple[OrderStatus, OrderEvent], OrderStatus] = MappingProxyType(
    {
        (_S.PENDING, _E.PAYMENT_SUCCEEDED): _S.PAID,
        (_S.PENDING, _E.PAYMENT_FAILED): _S.FAILED,
        (_S.PAID, _E.FULFIL): _S.FULFILLED,
        (_S.PAID, _E.REFUND_PARTIAL): _S.PARTIALLY_REFUNDED,
        (_S.PAID, _E.REFUND_FULL): _S.REFUNDED,
        (_S.FULFILLED, _E.REFUND_PARTIAL): _S.PARTIALLY_REFUNDED,
        (_S.FULFILLED, _E.REFUND_FULL): _S.REFUNDED,
        (_S.PARTIALLY_REFUNDED, _E.REFUND_PARTIAL): _S.PARTIALLY_REFUNDED,
        (_S.PARTIALLY_REFUNDED, _E.REFUND_FULL): _S.REFUNDED,
    }
)

FINAL_STATUSES = frozenset(s for s in OrderStatus if not any(src is s for src, _ in TRANSITIONS))


def allowed_events(status: OrderStatus) -> tuple[OrderEvent, ...]:
    """The events an order in ``status`` may take, in declaration order."""
    return tuple(event for (src, event) in TRANSITIONS if src is status)


def next_status(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    """The status after ``event``.

    Raises:
        IllegalTransition: the table has no transition for ``event`` from ``status``.

    Example::

        >>> next_status(OrderStatus.PENDING, OrderEvent.PAYMENT_SUCCEEDED)
        <OrderStatus.PAID: 'paid'>
    """
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(
            status.value, event.value, tuple(e.value for e in allowed_events(status))
        ) from None
