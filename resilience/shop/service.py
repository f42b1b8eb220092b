"""The shop's operations, each one database transaction, used by the API, the jobs and the CLI.

Stock is reserved when an order is created (an atomic conditional UPDATE, so concurrent orders can
never sell more than there is) and released when its payment fails. Refunds do not restock:
returns are a manual stock adjustment.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import Actor, AuditTrail
from resilience.errors import (
    DispatchFailed,
    DuplicateSku,
    IdempotencyConflict,
    InsufficientStock,
    InvalidRefund,
    LimitExceeded,
    NotYetApplicable,
    OrderLocked,
    UnknownOrder,
    UnknownProduct,
)
from resilience.shop.models import (
    IdempotencyKey,
    Order,
    OrderLine,
    Payment,
    Product,
    Refund,
    StockAdjustment,
)
from resilience.shop.orders import OrderEvent, OrderStatus, next_status
from resilience.shop.schemas import (
    OrderIn,
    OrderOut,
    PaymentIn,
    ProductIn,
    ProductOut,
    RefundIn,
    StockAdjustmentIn,
)

__all__ = ["Dispatcher", "ShopService", "utcnow"]

log = logging.getLogger(__name__)

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


class ShopService:
    """The reference shop's business operations.

    Parameters:
        sessions: session factory bound to the shop database.
        dispatcher: receives paid orders for fulfilment.
        currency: ISO code stamped on new orders.
        max_lines_per_order, max_quantity_per_line: the largest order accepted.
        clock: returns the current UTC time; injected so tests control time.
        audit: the audit trail; every critical action writes one row in its own transaction.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        *,
        currency: str = "EUR",
        max_lines_per_order: int = 50,
        max_quantity_per_line: int = 1000,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditTrail | None = None,
    ) -> None:
        self._sessions = sessions
        self._audit = audit or AuditTrail(clock=clock)
        self._dispatcher = dispatcher
        self._currency = currency
        self._max_lines = max_lines_per_order
        self._max_quantity = max_quantity_per_line
        self._clock = clock

    # -- products -----------------------------------------------------------------------------

    def create_product(self, data: ProductIn, *, actor: Actor = SYSTEM) -> ProductOut:
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                product = Product(**data.model_dump(), created_at=now, updated_at=now)
                session.add(product)
                session.flush()
                self._audited(session, "product_created", product, None, actor)
                return ProductOut.model_validate(product)
        except IntegrityError as exc:
            raise DuplicateSku(data.sku) from exc

    def get_product(self, product_id: int) -> ProductOut:
        with self._sessions() as session:
            product = session.get(Product, product_id)
            if product is None:
                raise UnknownProduct(product_id)
            return ProductOut.model_validate(product)

    def list_products(self, *, limit: int = 100, offset: int = 0) -> list[ProductOut]:
        with self._sessions() as session:
            rows = session.scalars(select(Product).order_by(Product.id).limit(limit).offset(offset))
            return [ProductOut.model_validate(p) for p in rows]

    def sync_stock(
        self, levels: Sequence[tuple[str, int]], *, actor: Actor = ERP
    ) -> dict[str, int]:
        """Set each known SKU's stock to the ERP's level, in one transaction (all or nothing);
        every change is a ``stock_adjustments`` row with reason ``erp sync``. SKUs the shop does
        not sell are skipped. Returns counts: changed, unchanged, unknown."""
        now = self._clock()
        wanted = dict(levels)
        counts = {"changed": 0, "unchanged": 0, "unknown": 0}
        with self._sessions.begin() as session:
            products = session.scalars(
                select(Product).where(Product.sku.in_(list(wanted))).with_for_update()
            ).all()
            known = {p.sku for p in products}
            counts["unknown"] = len(set(wanted) - known)
            for product in products:
                target = wanted[product.sku]
                if product.stock == target:
                    counts["unchanged"] += 1
                    continue
                delta = target - product.stock
                before = _product_state(product)
                product.stock, product.updated_at = target, now
                self._audited(
                    session, "stock_synced", product, before, actor, delta=delta, source="erp"
                )
                session.add(
                    StockAdjustment(
                        product_id=product.id,
                        delta=delta,
                        stock_after=target,
                        reason="erp sync",
                        created_at=now,
                    )
                )
                counts["changed"] += 1
        return counts

    def adjust_stock(
        self, product_id: int, data: StockAdjustmentIn, *, actor: Actor = SYSTEM
    ) -> ProductOut:
        """Add or remove stock by hand; stock never goes below zero."""
        now = self._clock()
        with self._sessions.begin() as session:
            product = session.get(Product, product_id, with_for_update=True)
            if product is None:
                raise UnknownProduct(product_id)
            before = _product_state(product)
            changed = session.execute(
                update(Product)
                .where(Product.id == product_id, Product.stock + data.delta >= 0)
                .values(stock=Product.stock + data.delta, updated_at=now)
            )
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                session.refresh(product)
                raise InsufficientStock(product_id, -data.delta, product.stock)
            session.refresh(product)
            session.add(
                StockAdjustment(
                    product_id=product_id,
                    delta=data.delta,
                    stock_after=product.stock,
                    reason=data.reason,
                    created_at=now,
                )
            )
            self._audited(
                session,
                "stock_adjusted",
                product,
                before,
                actor,
                delta=data.delta,
                reason=data.reason,
            )
            return ProductOut.model_validate(product)

    # -- orders -------------------------------------------------------------------------------

    def get_order(self, order_id: int) -> OrderOut:
        with self._sessions() as session:
            return OrderOut.model_validate(self._load(session, order_id))

    def list_orders(
        self,
        *,
        status: OrderStatus | None = None,
        created_before: datetime | None = None,
        limit: int = 100,
    ) -> list[OrderOut]:
        with self._sessions() as session:
            query = select(Order).order_by(Order.id).limit(limit)
            if status is not None:
                query = query.where(Order.status == status.value)
            if created_before is not None:
                query = query.where(Order.created_at < created_before)
            return [OrderOut.model_validate(o) for o in session.scalars(query)]

    def create_order(
        self, data: OrderIn, *, idempotency_key: str | None = None
    ) -> tuple[OrderOut, bool]:
        """Create a pending order and reserve its stock.

        With an ``idempotency_key``, the same key and body always return the first order and
        ``created=False``; the same key with another body raises :class:`IdempotencyConflict`.

        Returns:
            ``(order, created)``.

        Raises:
            UnknownProduct, InsufficientStock, IdempotencyConflict, LimitExceeded.
        """
        self._check_limits(data)
        request_hash = _request_hash(data)
        if idempotency_key is not None:
            replay = self._replay(idempotency_key, request_hash)
            if replay is not None:
                return replay, False
        try:
            return self._create_order(data, idempotency_key, request_hash), True
        except IntegrityError:
            # A concurrent request with the same key won the race; its order is the answer.
            if idempotency_key is None:
                raise
            replay = self._replay(idempotency_key, request_hash)
            if replay is None:
                raise
            return replay, False

    def _check_limits(self, data: OrderIn) -> None:
        if len(data.lines) > self._max_lines:
            raise LimitExceeded(
                "number of order lines",
                len(data.lines),
                self._max_lines,
                "SHOP_MAX_LINES_PER_ORDER",
            )
        for line in data.lines:
            if line.quantity > self._max_quantity:
                raise LimitExceeded(
                    f"quantity of product {line.product_id}",
                    line.quantity,
                    self._max_quantity,
                    "SHOP_MAX_QUANTITY_PER_LINE",
                )

    def _replay(self, key: str, request_hash: str) -> OrderOut | None:
        with self._sessions() as session:
            row = session.get(IdempotencyKey, key)
            if row is None:
                return None
            if row.request_hash != request_hash:
                raise IdempotencyConflict(key)
            return OrderOut.model_validate(self._load(session, row.order_id))

    def _create_order(self, data: OrderIn, key: str | None, request_hash: str) -> OrderOut:
        now = self._clock()
        quantities: dict[int, int] = {}
        for line in data.lines:
            quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
        with self._sessions.begin() as session:
            lines: list[OrderLine] = []
            # Lock rows in id order so two orders for the same products cannot deadlock.
            for product_id in sorted(quantities):
                quantity = quantities[product_id]
                product = session.get(Product, product_id)
                if product is None:
                    raise UnknownProduct(product_id)
                self._take_stock(session, product, quantity, now)
                lines.append(
                    OrderLine(
                        product_id=product_id,
                        quantity=quantity,
                        unit_price_cents=product.price_cents,
                    )
                )
            order = Order(
                status=OrderStatus.PENDING.value,
                currency=self._currency,
                total_cents=sum(line.quantity * line.unit_price_cents for line in lines),
                refunded_cents=0,
                created_at=now,
                updated_at=now,
                lines=lines,
            )
            session.add(order)
            session.flush()
            if key is not None:
                session.add(
                    IdempotencyKey(
                        key=key, request_hash=request_hash, order_id=order.id, created_at=now
                    )
                )
                session.flush()
            return OrderOut.model_validate(order)

    @staticmethod
    def _take_stock(session: Session, product: Product, quantity: int, now: datetime) -> None:
        changed = session.execute(
            update(Product)
            .where(Product.id == product.id, Product.stock >= quantity)
            .values(stock=Product.stock - quantity, updated_at=now)
        )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            session.refresh(product)
            raise InsufficientStock(product.id, quantity, product.stock)

    def record_payment(self, order_id: int, data: PaymentIn, *, actor: Actor = SYSTEM) -> OrderOut:
        """Apply a provider's payment report: ``pending`` becomes ``paid`` or ``failed``.

        A successful payment schedules fulfilment; a failed one releases the reserved stock.
        The payment is committed first: when the broker is unreachable the order stays ``paid``
        and :meth:`requeue_unfulfilled` (run periodically by ``shop worker``) enqueues it later.

        Raises:
            UnknownOrder, IllegalTransition (the order is no longer pending).
        """
        with self._sessions.begin() as session:
            order = self._load(session, order_id, lock=True)
            before = _order_state(order)
            result = self._apply_payment(session, order, data, self._clock())
            self._audit_payment(session, order, before, data, actor)
        if result.status is OrderStatus.PAID:
            self._dispatch_fulfilment(result.id)
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
                session.add(self._payment_row(order, data, now))
                self._audit_payment(
                    session,
                    order,
                    _order_state(order),
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
            before = _order_state(order)
            result = self._apply_payment(session, order, data, now)
            self._audit_payment(session, order, before, data, actor)
        if result.status is OrderStatus.PAID:
            self._dispatch_fulfilment(result.id)
        return f"order {order_id} is {result.status.value}"

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

    def _apply_payment(
        self, session: Session, order: Order, data: PaymentIn, now: datetime
    ) -> OrderOut:
        event = OrderEvent.PAYMENT_SUCCEEDED if data.succeeded else OrderEvent.PAYMENT_FAILED
        order.status = next_status(OrderStatus(order.status), event).value
        order.updated_at = now
        session.add(self._payment_row(order, data, now))
        if data.succeeded:
            order.payment_method = data.method
            order.paid_at = now
        else:
            self._release_stock(session, order.lines, now)
        return OrderOut.model_validate(order)

    def _dispatch_fulfilment(self, order_id: int) -> bool:
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
        return [order_id for order_id in ids if self._dispatch_fulfilment(order_id)]

    @staticmethod
    def _release_stock(session: Session, lines: Sequence[OrderLine], now: datetime) -> None:
        for line in lines:
            session.execute(
                update(Product)
                .where(Product.id == line.product_id)
                .values(stock=Product.stock + line.quantity, updated_at=now)
            )

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
            before = _order_state(order)
            result = self._apply_refund(session, order, amount, data.reason, None, self._clock())
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
            before = _order_state(order)
            result = self._apply_refund(session, order, amount, reason, provider_ref, self._clock())
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

    @staticmethod
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
            before = _order_state(order)
            order.payment_method = method
            order.updated_at = self._clock()
            self._audited(session, "payment_method_changed", order, before, actor)
            return OrderOut.model_validate(order)

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
        after = _product_state(entity) if isinstance(entity, Product) else _order_state(entity)
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


def _request_hash(data: OrderIn) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _order_state(order: Order) -> dict[str, object]:
    """What the audit trail keeps of an order before and after a critical action."""
    return {
        "status": order.status,
        "total_cents": order.total_cents,
        "refunded_cents": order.refunded_cents,
        "payment_method": order.payment_method,
    }


def _product_state(product: Product) -> dict[str, object]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "stock": product.stock,
    }
