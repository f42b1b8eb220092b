"""Products and their stock: created, listed, adjusted by hand, and synced from the ERP.

Stock is reserved when an order is created (an atomic conditional UPDATE, so concurrent orders
can never sell more than there is) and released when its payment fails. Refunds do not restock:
returns are a manual stock adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from resilience.audit import Actor
from resilience.errors import DuplicateSku, InsufficientStock, UnknownProduct
from resilience.shop.models import OrderLine, Product, StockAdjustment
from resilience.shop.schemas import ProductIn, ProductOut, StockAdjustmentIn
from resilience.shop.service.base import ERP, SYSTEM, Operations, product_state

__all__ = ["Catalogue", "release_stock", "take_stock"]


class Catalogue(Operations):
    """The shop's products and their stock levels."""

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
                before = product_state(product)
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
            before = product_state(product)
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


def take_stock(session: Session, product: Product, quantity: int, now: datetime) -> None:
    """Reserve ``quantity`` of ``product`` in one conditional UPDATE: never below zero.

    Raises:
        InsufficientStock: there is less than ``quantity``.
    """
    changed = session.execute(
        update(Product)
        .where(Product.id == product.id, Product.stock >= quantity)
        .values(stock=Product.stock - quantity, updated_at=now)
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        session.refresh(product)
        raise InsufficientStock(product.id, quantity, product.stock)


def release_stock(session: Session, lines: Sequence[OrderLine], now: datetime) -> None:
    """Give back what an order's lines reserved (its payment failed)."""
    for line in lines:
        session.execute(
            update(Product)
            .where(Product.id == line.product_id)
            .values(stock=Product.stock + line.quantity, updated_at=now)
        )
