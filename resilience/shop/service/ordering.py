"""Orders: created with their stock reserved (idempotent under a key), read and listed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import AuditTrail
from resilience.errors import IdempotencyConflict, LimitExceeded, UnknownProduct
from resilience.shop.models import IdempotencyKey, Order, OrderLine, Product
from resilience.shop.orders import OrderStatus
from resilience.shop.schemas import OrderIn, OrderOut
from resilience.shop.service.base import Operations
from resilience.shop.service.catalogue import take_stock

__all__ = ["Ordering"]


class Ordering(Operations):
    """Placing and reading orders.

    Parameters:
        currency: ISO code stamped on new orders.
        max_lines_per_order, max_quantity_per_line: the largest order accepted.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        audit: AuditTrail,
        clock: Callable[[], datetime],
        currency: str,
        max_lines_per_order: int,
        max_quantity_per_line: int,
    ) -> None:
        super().__init__(sessions, audit=audit, clock=clock)
        self._currency = currency
        self._max_lines = max_lines_per_order
        self._max_quantity = max_quantity_per_line

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
                take_stock(session, product, quantity, now)
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


def _request_hash(data: OrderIn) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
