"""Request and response bodies of the shop API (pydantic), shared by the service layer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from resilience.shop.orders import OrderStatus

__all__ = [
    "ErrorOut",
    "OrderIn",
    "OrderLineIn",
    "OrderLineOut",
    "OrderOut",
    "PaymentIn",
    "PaymentMethodIn",
    "ProductIn",
    "ProductOut",
    "RefundIn",
    "StockAdjustmentIn",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

# The columns' widths: a value past them is a 422 naming the field, never a database overflow.
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
MAX_LINES = 1000  # a hard ceiling; SHOP_MAX_LINES_PER_ORDER is the configurable limit below it
RowId = Annotated[int, Field(gt=0, le=INT64_MAX)]
Cents = Annotated[int, Field(ge=0, le=INT64_MAX)]
Units = Annotated[int, Field(ge=0, le=INT32_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ProductIn(_In):
    sku: Sku
    name: Name
    price_cents: Cents
    stock: Units


class ProductOut(_Out):
    id: int
    sku: str
    name: str
    price_cents: int
    stock: int


class OrderLineIn(_In):
    product_id: RowId
    quantity: int = Field(gt=0, le=INT32_MAX, description="units; must be positive")


class OrderIn(_In):
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)


class OrderLineOut(_Out):
    product_id: int
    quantity: int
    unit_price_cents: int


class OrderOut(_Out):
    id: int
    status: OrderStatus
    currency: str
    total_cents: int
    refunded_cents: int
    payment_method: str | None
    lines: list[OrderLineOut]
    created_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None


class PaymentIn(_In):
    """A provider's report of a payment attempt on an order."""

    provider: Slug = Field(description="e.g. stripe, paypal")
    method: Slug = Field(description="e.g. card, paypal, sepa_debit")
    succeeded: bool
    provider_ref: str | None = Field(default=None, max_length=255)


class RefundIn(_In):
    amount_cents: int | None = Field(
        default=None, gt=0, le=INT64_MAX, description="omit for a full refund of what remains"
    )
    reason: Reason


class StockAdjustmentIn(_In):
    delta: int = Field(
        ge=-INT32_MAX,
        le=INT32_MAX,
        description="units to add (positive) or remove (negative); never 0",
    )
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be 0; give the units to add or remove")
        return value


class PaymentMethodIn(_In):
    method: Slug


class ErrorDetail(BaseModel):
    code: str = Field(description="stable reason code, e.g. validation_error, overloaded")
    message: str = Field(description="what is wrong and what to do")
    details: dict[str, object] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """Every error answer of the shop."""

    error: ErrorDetail
