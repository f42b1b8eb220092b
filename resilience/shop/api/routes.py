"""Routes of the shop API: public shopping routes and ``/admin`` routes for critical actions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
import redis
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from resilience.audit import Actor
from resilience.shop.api.auth import admin_actor, require_admin
from resilience.shop.api.errors import documented, error_response
from resilience.shop.context import ShopContext
from resilience.shop.orders import OrderStatus
from resilience.shop.schemas import (
    INT64_MAX,
    OrderIn,
    OrderOut,
    PaymentIn,
    PaymentMethodIn,
    ProductIn,
    ProductOut,
    RefundIn,
    StockAdjustmentIn,
)

__all__ = ["admin", "public"]

log = logging.getLogger(__name__)

public = APIRouter()
admin = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)], tags=["admin"])

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="same key + same body never creates a second order",
    ),
]


def _ctx(request: Request) -> ShopContext:
    ctx: ShopContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ShopContext, Depends(_ctx)]
PathId = Annotated[int, Path(gt=0, le=INT64_MAX, description="a row id")]
Who = Annotated[Actor, Depends(admin_actor)]


def audited(action: str) -> dict[str, Any]:
    """Marks a route as a critical action that writes one ``action`` row to the audit trail
    (shown in the OpenAPI document; a test checks every mutating admin route has it)."""
    return {"openapi_extra": {"x-audit-action": action}}


@public.get("/health/live")
def live() -> dict[str, str]:
    """The process answers; says nothing about its dependencies."""
    return {"status": "ok"}


@public.get("/health", response_model=None, responses=documented(503))
async def health(ctx: Ctx) -> Response | dict[str, object]:
    """Ready: the database and Redis answer within ``SHOP_HEALTH_TIMEOUT_S``; 503 otherwise."""
    checks: dict[str, str] = {}
    for name, check in (("database", ctx.check_database), ("redis", ctx.check_broker)):
        try:
            with anyio.fail_after(ctx.settings.health_timeout_s):
                await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
            checks[name] = "ok"
        except TimeoutError:
            checks[name] = f"no answer within {ctx.settings.health_timeout_s} s"
        except Exception as exc:
            # The exception's text names hosts and users: it goes to the log, not to the caller.
            log.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = f"unavailable ({type(exc).__name__}); see the service log"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ok", "checks": checks}
    return error_response(503, "unhealthy", "a dependency is down", {"checks": checks})


@public.get("/products", responses=documented(422))
def list_products(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> list[ProductOut]:
    return ctx.service.list_products(limit=limit, offset=offset)


@public.get("/products/{product_id}", responses=documented(404, 422))
def get_product(ctx: Ctx, product_id: PathId) -> ProductOut:
    return ctx.service.get_product(product_id)


@public.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses={
        200: {"model": OrderOut, "description": "an Idempotency-Key replayed: the first order"},
        **documented(400, 404, 409, 413, 422, 429),
    },
)
def create_order(
    ctx: Ctx, body: OrderIn, response: Response, idempotency_key: IdempotencyKeyHeader = None
) -> OrderOut | Response:
    """Create a pending order and reserve stock. A replayed Idempotency-Key answers 200.

    While the orders queue is deeper than ``SHOP_BACKPRESSURE_HIGH`` (until it drains to
    ``SHOP_BACKPRESSURE_LOW``), new orders are refused with 429 and ``Retry-After``: nothing is
    stored, so the client's retry loses nothing."""
    gate = ctx.queues.backpressure if ctx.queues is not None else None
    if gate is not None:
        try:
            admission = gate.admit()
        except redis.RedisError:
            admission = None  # Redis down: the sweep covers enqueueing; take the order
        if admission is not None and not admission.admitted:
            return error_response(
                429,
                "overloaded",
                "the shop is busy fulfilling orders; retry after the given delay",
                {"queue_depth": admission.depth, "retry_after_s": admission.retry_after_s},
                headers={"Retry-After": str(admission.retry_after_s)},
            )
    order, created = ctx.service.create_order(body, idempotency_key=idempotency_key)
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return order


@public.get("/orders/{order_id}", responses=documented(404, 422))
def get_order(ctx: Ctx, order_id: PathId) -> OrderOut:
    return ctx.service.get_order(order_id)


@public.post(
    "/orders/{order_id}/payments",
    dependencies=[Depends(require_admin)],
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    **audited("payment_recorded"),
)
def record_payment(ctx: Ctx, who: Who, order_id: PathId, body: PaymentIn) -> OrderOut:
    """A payment provider's result for the order (authenticated: it moves money state)."""
    return ctx.service.record_payment(order_id, body, actor=who)


@admin.get("/orders", responses=documented(401, 403, 422))
def list_orders(
    ctx: Ctx,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderOut]:
    return ctx.service.list_orders(status=status, limit=limit)


@admin.post(
    "/products",
    status_code=201,
    responses=documented(400, 401, 403, 409, 413, 422),
    **audited("product_created"),
)
def create_product(ctx: Ctx, who: Who, body: ProductIn) -> ProductOut:
    return ctx.service.create_product(body, actor=who)


@admin.post(
    "/products/{product_id}/stock-adjustments",
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    **audited("stock_adjusted"),
)
def adjust_stock(ctx: Ctx, who: Who, product_id: PathId, body: StockAdjustmentIn) -> ProductOut:
    return ctx.service.adjust_stock(product_id, body, actor=who)


@admin.post(
    "/orders/{order_id}/refunds",
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    **audited("refund_created"),
)
def refund(ctx: Ctx, who: Who, order_id: PathId, body: RefundIn) -> OrderOut:
    return ctx.service.refund(order_id, body, actor=who)


@admin.put(
    "/orders/{order_id}/payment-method",
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    **audited("payment_method_changed"),
)
def change_payment_method(ctx: Ctx, who: Who, order_id: PathId, body: PaymentMethodIn) -> OrderOut:
    return ctx.service.change_payment_method(order_id, body.method, actor=who)
