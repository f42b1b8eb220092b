"""Tables of the reference shop service (SQLAlchemy 2 declarative, typed).

Money is integer cents; timestamps are UTC. The schema is owned by the Alembic migrations in
``migrations/versions``; a test checks that these models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from resilience.alerts import models as _alert_models  # noqa: F401  (one metadata)
from resilience.audit import models as _audit_models  # noqa: F401  (one metadata)
from resilience.persistence import Base, Id, UtcDateTime
from resilience.queues import models as _queue_models  # noqa: F401  (one metadata)
from resilience.webhooks import models as _webhook_models  # noqa: F401  (one metadata, one history)

__all__ = [
    "Base",
    "IdempotencyKey",
    "Order",
    "OrderLine",
    "Payment",
    "Product",
    "Refund",
    "StockAdjustment",
]


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("refunded_cents >= 0", name="refunded_not_negative"),
        CheckConstraint("refunded_cents <= total_cents", name="refund_within_total"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fulfilled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="lines")


class Payment(Base):
    """One payment attempt reported by a provider, successful or not.

    A provider's payment is recorded once per outcome: the unique index stops a second row even
    where row locks are not (SQLite)."""

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_provider_ref",
            "order_id",
            "provider",
            "provider_ref",
            "succeeded",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    succeeded: Mapped[bool]
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StockAdjustment(Base):
    """A manual stock change by an operator (orders move stock without one)."""

    __tablename__ = "stock_adjustments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    stock_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IdempotencyKey(Base):
    """Binds a client's Idempotency-Key to the order it created and the request that did."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
