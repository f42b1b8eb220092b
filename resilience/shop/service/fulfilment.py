"""Fulfilment: paid orders handed to the jobs, swept again when the hand-off failed, and marked
fulfilled once (idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import AuditTrail
from resilience.errors import DispatchFailed
from resilience.shop.models import Order
from resilience.shop.orders import OrderEvent, OrderStatus, next_status
from resilience.shop.schemas import OrderOut
from resilience.shop.service.base import Dispatcher, Operations

__all__ = ["Fulfilment"]

log = logging.getLogger("resilience.shop.service")


class Fulfilment(Operations):
    """Fulfilment of paid orders.

    Parameters:
        dispatcher: receives paid orders for fulfilment.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        *,
        audit: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(sessions, audit=audit, clock=clock)
        self._dispatcher = dispatcher

    def dispatch(self, order_id: int) -> bool:
        """Hand a paid order to the jobs; False (logged) when the broker is unreachable: the
        order stays paid until :meth:`requeue_unfulfilled` enqueues it."""
        try:
            self._dispatcher.fulfil_order(order_id)
        except DispatchFailed as exc:
            log.warning("%s; the order stays paid until the fulfilment sweep enqueues it", exc)
            return False
        return True

    def requeue_unfulfilled(self, *, paid_before: timedelta, limit: int = 1000) -> list[int]:
        """Enqueue fulfilment again for orders paid longer than ``paid_before`` ago and still
        unfulfilled (their first enqueue failed, or the job was lost). Fulfilment is idempotent,
        so an order enqueued twice is fulfilled once.

        Returns:
            the ids of the orders enqueued.
        """
        cutoff = self._clock() - paid_before
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(Order.id)
                    .where(Order.status == OrderStatus.PAID.value, Order.paid_at < cutoff)
                    .order_by(Order.paid_at)
                    .limit(limit)
                )
            )
        return [order_id for order_id in ids if self.dispatch(order_id)]

    def fulfil_order(self, order_id: int) -> OrderOut:
        """Mark a paid order fulfilled. Idempotent: a fulfilled order is returned unchanged.

        Raises:
            UnknownOrder, IllegalTransition (the order is not paid).
        """
        now = self._clock()
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            status = OrderStatus(order.status)
            if status is OrderStatus.FULFILLED:
                return OrderOut.model_validate(order)
            order.status = next_status(status, OrderEvent.FULFIL).value
            order.fulfilled_at = now
            order.updated_at = now
            return OrderOut.model_validate(order)
