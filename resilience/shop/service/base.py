"""What every part of the shop's service shares: one transaction per operation, the audit row
written inside it, and the states the audit trail keeps of orders and products."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import Actor, AuditTrail
from resilience.errors import UnknownOrder
from resilience.shop.models import Order, Product

__all__ = [
    "ERP",
    "SYSTEM",
    "WEBHOOKS",
    "Dispatcher",
    "Operations",
    "order_state",
    "product_state",
    "utcnow",
]

#: Who the audit trail names when the caller does not say (a test, a script).
SYSTEM = Actor.system("shop")
WEBHOOKS = Actor.system("webhooks")
ERP = Actor.system("erp-sync")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher(Protocol):
    """Where the service hands work to background jobs."""

    def fulfil_order(self, order_id: int) -> None:
        """Schedule fulfilment of a paid order. Must be safe to call more than once.

        Raises:
            DispatchFailed: the job could not be enqueued.
        """


class Operations:
    """The base of each part of the service: its session factory, audit trail and clock.

    Parameters:
        sessions: session factory bound to the shop database.
        audit: the audit trail; every critical action writes one row in its own transaction.
        clock: returns the current UTC time; injected so tests control time.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        audit: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def _audited(
        self,
        session: Session,
        action: str,
        entity: Product | Order,
        before: dict[str, object] | None,
        actor: Actor,
        **metadata: object,
    ) -> None:
        """One audit row for ``entity`` (a product or an order) in the action's transaction."""
        after = product_state(entity) if isinstance(entity, Product) else order_state(entity)
        self._audit.record(
            session,
            action=action,
            entity_type=type(entity).__name__,
            entity_id=entity.id,
            actor=actor,
            before=before,
            after=after,
            metadata=metadata,
        )

    @staticmethod
    def _load(session: Session, order_id: int, *, lock: bool = False) -> Order:
        order = session.get(Order, order_id, with_for_update=lock)
        if order is None:
            raise UnknownOrder(order_id)
        return order


def order_state(order: Order) -> dict[str, object]:
    """What the audit trail keeps of an order before and after a critical action."""
    return {
        "status": order.status,
        "total_cents": order.total_cents,
        "refunded_cents": order.refunded_cents,
        "payment_method": order.payment_method,
    }


def product_state(product: Product) -> dict[str, object]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "stock": product.stock,
    }
