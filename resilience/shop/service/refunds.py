"""Refunds: by an operator, or from a provider's webhook (idempotent by its reference)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from resilience.audit import Actor
from resilience.errors import InvalidRefund, NotYetApplicable
from resilience.shop.models import Order, Refund
from resilience.shop.orders import OrderEvent, OrderStatus, next_status
from resilience.shop.schemas import OrderOut, RefundIn
from resilience.shop.service.base import SYSTEM, WEBHOOKS, Operations, order_state

__all__ = ["Refunds"]


class Refunds(Operations):
    """Refunds of paid orders, full or partial."""

    def refund(self, order_id: int, data: RefundIn, *, actor: Actor = SYSTEM) -> OrderOut:
        """Refund ``data.amount_cents`` (or everything still refundable when omitted).

        Raises:
            UnknownOrder, IllegalTransition (nothing was paid, or all is refunded),
            InvalidRefund (the amount exceeds what is refundable).
        """
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            amount = data.amount_cents
            if amount is None:
                amount = order.total_cents - order.refunded_cents
            before = order_state(order)
            result = _apply_refund(session, order, amount, data.reason, None, self._clock())
            self._audit_refund(session, order, before, amount, data.reason, None, actor)
            return result

    def apply_provider_refund(
        self,
        order_id: int,
        *,
        provider_ref: str,
        reason: str,
        amount_cents: int | None = None,
        refunded_total_cents: int | None = None,
        actor: Actor = WEBHOOKS,
    ) -> str:
        """Apply a refund event from a provider's webhook; idempotent.

        Give ``amount_cents`` (this refund) or ``refunded_total_cents`` (the provider's running
        total, as Stripe sends it). A refund already applied (same ``provider_ref``, or a total
        already reached) changes nothing.

        Raises:
            NotYetApplicable: the order is still pending (the payment event has not arrived).
            IllegalTransition, InvalidRefund: the refund cannot apply to this order.
        """
        if (amount_cents is None) == (refunded_total_cents is None):
            raise ValueError("give exactly one of amount_cents and refunded_total_cents")
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            if order.status == OrderStatus.PENDING.value:
                raise NotYetApplicable(
                    f"refund {provider_ref} for order {order_id} arrived before its payment"
                )
            if session.scalar(select(func.count()).where(Refund.provider_ref == provider_ref)):
                return f"refund {provider_ref} already applied"
            amount = (
                amount_cents
                if amount_cents is not None
                else (refunded_total_cents or 0) - order.refunded_cents
            )
            if amount <= 0:
                return f"refund total {refunded_total_cents} already reached on order {order_id}"
            before = order_state(order)
            result = _apply_refund(session, order, amount, reason, provider_ref, self._clock())
            self._audit_refund(session, order, before, amount, reason, provider_ref, actor)
            return f"refunded {amount} cents; order {order_id} is {result.status.value}"

    def _audit_refund(
        self,
        session: Session,
        order: Order,
        before: dict[str, object],
        amount: int,
        reason: str,
        provider_ref: str | None,
        actor: Actor,
    ) -> None:
        full = order.refunded_cents >= order.total_cents
        self._audited(
            session,
            "refund_created",
            order,
            before,
            actor,
            amount_cents=amount,
            kind="full" if full else "partial",
            reason=reason,
            provider_ref=provider_ref,
        )


def _apply_refund(
    session: Session,
    order: Order,
    amount: int,
    reason: str,
    provider_ref: str | None,
    now: datetime,
) -> OrderOut:
    refundable = order.total_cents - order.refunded_cents
    event = OrderEvent.REFUND_FULL if amount >= refundable else OrderEvent.REFUND_PARTIAL
    new_status = next_status(OrderStatus(order.status), event)
    if amount > refundable or amount <= 0:
        raise InvalidRefund(order.id, amount, refundable)
    order.status = new_status.value
    order.refunded_cents += amount
    order.updated_at = now
    session.add(
        Refund(
            order_id=order.id,
            amount_cents=amount,
            reason=reason,
            provider_ref=provider_ref,
            created_at=now,
        )
    )
    session.flush()
    return OrderOut.model_validate(order)
