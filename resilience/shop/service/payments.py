"""Payments: a provider's report applied to a pending order (idempotent and order-tolerant for
webhooks), and the payment method changed while the order is pending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import Actor, AuditTrail
from resilience.errors import OrderLocked
from resilience.shop.models import Order, Payment
from resilience.shop.orders import OrderEvent, OrderStatus, next_status
from resilience.shop.schemas import OrderOut, PaymentIn
from resilience.shop.service.base import SYSTEM, WEBHOOKS, Operations, order_state
from resilience.shop.service.catalogue import release_stock
from resilience.shop.service.fulfilment import Fulfilment

__all__ = ["Payments"]

log = logging.getLogger("resilience.shop.service")


class Payments(Operations):
    """Payments of orders.

    Parameters:
        fulfilment: where a paid order goes next.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        fulfilment: Fulfilment,
        *,
        audit: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(sessions, audit=audit, clock=clock)
        self._fulfilment = fulfilment

    def record_payment(self, order_id: int, data: PaymentIn, *, actor: Actor = SYSTEM) -> OrderOut:
        """Apply a provider's payment report: ``pending`` becomes ``paid`` or ``failed``.

        A successful payment schedules fulfilment; a failed one releases the reserved stock.
        The payment is committed first: when the broker is unreachable the order stays ``paid``
        and ``requeue_unfulfilled`` (run periodically by ``shop worker``) enqueues it later.

        Raises:
            UnknownOrder, IllegalTransition (the order is no longer pending).
        """
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            before = order_state(order)
            result = self._apply_payment(session, order, data, self._clock())
            self._audit_payment(session, order, before, data, actor)
        if result.status is OrderStatus.PAID:
            self._fulfilment.dispatch(result.id)
        return result

    def apply_provider_payment(
        self, order_id: int, data: PaymentIn, *, actor: Actor = WEBHOOKS
    ) -> str:
        """Apply a payment event from a provider's webhook; idempotent and order-tolerant.

        A repeat of an applied payment changes nothing. A late failure after success is
        ignored. A success for an order that is no longer pending (a second charge) is recorded
        as a payment but never changes the order; the note asks for review.

        Returns:
            a note saying what was done, stored with the event.
        """
        now = self._clock()
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            status = OrderStatus(order.status)
            if data.provider_ref is not None and session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(
                    Payment.order_id == order_id,
                    Payment.provider == data.provider,
                    Payment.provider_ref == data.provider_ref,
                    Payment.succeeded == data.succeeded,
                )
            ):
                return f"payment {data.provider_ref} already applied; order is {status.value}"
            if status is not OrderStatus.PENDING:
                if not data.succeeded:
                    return f"late payment failure ignored: order {order_id} is {status.value}"
                session.add(_payment_row(order, data, now))
                self._audit_payment(
                    session,
                    order,
                    order_state(order),
                    data,
                    actor,
                    review="possible double charge",
                )
                log.error(
                    "second successful payment %s for order %s (%s): review and refund it",
                    data.provider_ref,
                    order_id,
                    status.value,
                )
                return (
                    f"payment {data.provider_ref} succeeded but order {order_id} is already "
                    f"{status.value}: recorded for review (possible double charge)"
                )
            before = order_state(order)
            result = self._apply_payment(session, order, data, now)
            self._audit_payment(session, order, before, data, actor)
        if result.status is OrderStatus.PAID:
            self._fulfilment.dispatch(result.id)
        return f"order {order_id} is {result.status.value}"

    def change_payment_method(
        self, order_id: int, method: str, *, actor: Actor = SYSTEM
    ) -> OrderOut:
        """Change the payment method of an order that is still pending.

        Raises:
            UnknownOrder, OrderLocked (the order is past pending).
        """
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            if order.status != OrderStatus.PENDING.value:
                raise OrderLocked(
                    order_id,
                    order.status,
                    "changing the payment method",
                    (OrderStatus.PENDING.value,),
                )
            before = order_state(order)
            order.payment_method = method
            order.updated_at = self._clock()
            self._audited(session, "payment_method_changed", order, before, actor)
            return OrderOut.model_validate(order)

    def _audit_payment(
        self,
        session: Session,
        order: Order,
        before: dict[str, object],
        data: PaymentIn,
        actor: Actor,
        review: str | None = None,
    ) -> None:
        metadata: dict[str, object] = {
            "provider": data.provider,
            "method": data.method,
            "succeeded": data.succeeded,
            "provider_ref": data.provider_ref,
            "amount_cents": order.total_cents,
        }
        if review:
            metadata["review"] = review
        self._audited(session, "payment_recorded", order, before, actor, **metadata)

    @staticmethod
    def _apply_payment(session: Session, order: Order, data: PaymentIn, now: datetime) -> OrderOut:
        event = OrderEvent.PAYMENT_SUCCEEDED if data.succeeded else OrderEvent.PAYMENT_FAILED
        order.status = next_status(OrderStatus(order.status), event).value
        order.updated_at = now
        session.add(_payment_row(order, data, now))
        if data.succeeded:
            order.payment_method = data.method
            order.paid_at = now
        else:
            release_stock(session, order.lines, now)
        return OrderOut.model_validate(order)


def _payment_row(order: Order, data: PaymentIn, now: datetime) -> Payment:
    return Payment(
        order_id=order.id,
        provider=data.provider,
        method=data.method,
        amount_cents=order.total_cents,
        succeeded=data.succeeded,
        provider_ref=data.provider_ref,
        created_at=now,
    )
