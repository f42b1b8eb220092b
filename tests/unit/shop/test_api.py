"""The shop API over HTTP (FastAPI TestClient), on SQLite with a StubBroker worker."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from resilience.shop import ShopContext
from resilience.shop.models import IdempotencyKey, Order, Payment, Product, Refund, StockAdjustment
from tests.unit.shop.conftest import ADMIN

TABLES = (Order, Product, Payment, Refund, StockAdjustment, IdempotencyKey)


def row_counts(ctx: ShopContext) -> dict[str, int]:
    with ctx.sessions() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def add_product(client: TestClient, sku: str = "MUG-1", price: int = 1250, stock: int = 10) -> int:
    r = client.post(
        "/admin/products",
        json={"sku": sku, "name": "Mug", "price_cents": price, "stock": stock},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    product_id: int = r.json()["id"]
    return product_id


def order_body(product_id: int, quantity: int = 1) -> dict[str, Any]:
    return {"lines": [{"product_id": product_id, "quantity": quantity}]}


def pay(client: TestClient, order_id: int, succeeded: bool = True) -> Any:
    return client.post(
        f"/orders/{order_id}/payments",
        json={"provider": "stripe", "method": "card", "succeeded": succeeded},
        headers=ADMIN,
    )


def test_order_is_paid_then_fulfilled_by_a_worker(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    product = add_product(client, price=1250, stock=5)
    r = client.post("/orders", json=order_body(product, 2))
    assert r.status_code == 201
    order = r.json()
    assert (order["status"], order["total_cents"]) == ("pending", 2500)
    assert client.get(f"/products/{product}").json()["stock"] == 3

    r = pay(client, order["id"])
    assert r.status_code == 200 and r.json()["status"] == "paid"

    ctx.broker.join(ctx.settings.orders_queue)
    worker.join()
    fulfilled = client.get(f"/orders/{order['id']}").json()
    assert fulfilled["status"] == "fulfilled"
    assert fulfilled["fulfilled_at"] is not None


def test_failed_payment_releases_stock_and_is_final(client: TestClient) -> None:
    product = add_product(client, stock=4)
    order = client.post("/orders", json=order_body(product, 3)).json()
    assert pay(client, order["id"], succeeded=False).json()["status"] == "failed"
    assert client.get(f"/products/{product}").json()["stock"] == 4
    r = pay(client, order["id"])
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "illegal_transition"
    assert r.json()["error"]["details"] == {
        "status": "failed",
        "event": "payment_succeeded",
        "allowed": [],
    }


def test_same_idempotency_key_never_makes_two_orders(client: TestClient, ctx: ShopContext) -> None:
    product = add_product(client, stock=10)
    headers = {"Idempotency-Key": "checkout-7f3a"}
    first = client.post("/orders", json=order_body(product, 2), headers=headers)
    second = client.post("/orders", json=order_body(product, 2), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert row_counts(ctx)["orders"] == 1
    assert client.get(f"/products/{product}").json()["stock"] == 8  # reserved once

    other = client.post("/orders", json=order_body(product, 3), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert row_counts(ctx)["orders"] == 1


def test_refunds_partial_then_full(client: TestClient, worker: dramatiq.Worker) -> None:
    product = add_product(client, price=1000)
    order = client.post("/orders", json=order_body(product, 3)).json()
    pay(client, order["id"])
    url = f"/admin/orders/{order['id']}/refunds"

    r = client.post(url, json={"amount_cents": 1000, "reason": "one mug broken"}, headers=ADMIN)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["refunded_cents"]) == ("partially_refunded", 1000)

    too_much = client.post(url, json={"amount_cents": 2001, "reason": "x"}, headers=ADMIN)
    assert too_much.status_code == 409
    assert too_much.json()["error"]["details"]["refundable_cents"] == 2000

    r = client.post(url, json={"reason": "customer returned the rest"}, headers=ADMIN)
    assert (r.json()["status"], r.json()["refunded_cents"]) == ("refunded", 3000)


def test_refund_of_unpaid_order_is_refused(client: TestClient, ctx: ShopContext) -> None:
    product = add_product(client)
    order = client.post("/orders", json=order_body(product)).json()
    before = row_counts(ctx)
    r = client.post(f"/admin/orders/{order['id']}/refunds", json={"reason": "x"}, headers=ADMIN)
    assert r.status_code == 409
    assert "pending" in r.json()["error"]["message"]
    assert row_counts(ctx) == before


def test_stock_adjustment_never_goes_negative(client: TestClient, ctx: ShopContext) -> None:
    product = add_product(client, stock=3)
    url = f"/admin/products/{product}/stock-adjustments"
    r = client.post(url, json={"delta": 7, "reason": "delivery"}, headers=ADMIN)
    assert r.json()["stock"] == 10
    before = row_counts(ctx)
    r = client.post(url, json={"delta": -11, "reason": "shrinkage"}, headers=ADMIN)
    assert r.status_code == 409
    assert r.json()["error"]["details"] == {"product_id": product, "requested": 11, "available": 10}
    assert row_counts(ctx) == before
    zero = client.post(url, json={"delta": 0, "reason": "x"}, headers=ADMIN)
    assert zero.status_code == 422 and "delta" in zero.json()["error"]["message"]


def test_payment_method_changes_only_while_pending(client: TestClient) -> None:
    product = add_product(client)
    order = client.post("/orders", json=order_body(product)).json()
    url = f"/admin/orders/{order['id']}/payment-method"
    r = client.put(url, json={"method": "paypal"}, headers=ADMIN)
    assert r.json()["payment_method"] == "paypal"
    pay(client, order["id"])
    r = client.put(url, json={"method": "sepa_debit"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["error"]["code"] == "order_locked"


# -- bad input: a 4xx JSON error that names the problem, and nothing written ---------------


@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        (b'{"lines": [', 400, "malformed_json", "not valid JSON"),
        (b'{"lines": []}', 422, "validation_error", "lines"),
        (
            b'{"lines": [{"product_id": 1, "quantity": -2}]}',
            422,
            "validation_error",
            "lines.0.quantity",
        ),
        (
            b'{"lines": [{"product_id": 1, "quantity": 0}]}',
            422,
            "validation_error",
            "lines.0.quantity",
        ),
        (b'{"lines": [{"product_id": 1, "quantity": 1}], "x": 1}', 422, "validation_error", "x"),
        (b'{"lines": [{"product_id": 999, "quantity": 1}]}', 404, "unknown_product", "999"),
        (b'{"lines": [{"product_id": 1, "quantity": 50}]}', 409, "insufficient_stock", "50"),
    ],
)
def test_bad_orders_are_refused_and_write_nothing(
    client: TestClient, ctx: ShopContext, body: bytes, status: int, code: str, names: str
) -> None:
    add_product(client, stock=10)
    before = row_counts(ctx)
    r = client.post("/orders", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert names in error["message"]
    assert row_counts(ctx) == before
    assert client.get("/products/1").json()["stock"] == 10


def test_orders_above_the_configured_limits_are_refused(ctx: ShopContext) -> None:
    from resilience.shop.api import create_app

    ctx.service = type(ctx.service)(
        ctx.sessions, ctx.jobs, max_lines_per_order=2, max_quantity_per_line=5
    )
    with TestClient(create_app(ctx)) as c:
        product = add_product(c, stock=100)
        r = c.post("/orders", json=order_body(product, 6))
        assert r.status_code == 422
        assert r.json()["error"]["details"] == {
            "what": f"quantity of product {product}",
            "value": 6,
            "limit": 5,
            "setting": "SHOP_MAX_QUANTITY_PER_LINE",
        }
        three = {"lines": [{"product_id": product, "quantity": 1}] * 3}
        assert c.post("/orders", json=three).json()["error"]["code"] == "limit_exceeded"
        assert c.post("/orders", json=order_body(product, 5)).status_code == 201
        assert row_counts(ctx)["orders"] == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic dXNlcjpwdw=="}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Bearer wrong-token"}, 403),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/products", {"sku": "X", "name": "x", "price_cents": 1, "stock": 1}),
        ("POST", "/admin/products/1/stock-adjustments", {"delta": 5, "reason": "x"}),
        ("POST", "/admin/orders/1/refunds", {"reason": "x"}),
        ("PUT", "/admin/orders/1/payment-method", {"method": "paypal"}),
        ("GET", "/admin/orders", None),
        ("POST", "/orders/1/payments", {"provider": "stripe", "method": "card", "succeeded": True}),
    ],
)
def test_admin_routes_need_the_admin_token(
    client: TestClient,
    ctx: ShopContext,
    headers: dict[str, str],
    status: int,
    method: str,
    path: str,
    body: Any,
) -> None:
    product = add_product(client)
    client.post("/orders", json=order_body(product))
    before = row_counts(ctx)
    r = client.request(method, path, json=body, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert row_counts(ctx) == before


def test_admin_is_disabled_without_a_configured_token(ctx: ShopContext) -> None:
    from resilience.shop.api import create_app

    ctx.settings = ctx.settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(ctx)) as c:
        r = c.get("/admin/orders", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403
    assert "SHOP_ADMIN_TOKEN" in r.json()["error"]["message"]


def test_unknown_order_is_404(client: TestClient) -> None:
    r = client.get("/orders/4242")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "unknown_order",
        "message": "order 4242 does not exist",
        "details": {"order_id": 4242},
    }


def test_health_reports_each_dependency(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_health_says_what_is_down_without_its_address_or_user(
    client: TestClient, ctx: ShopContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> None:
        raise ConnectionError('connection to "db.internal" (10.1.2.3) failed for user "shop"')

    monkeypatch.setattr(ctx, "check_database", refuse)
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["error"]["details"]["checks"]["database"].startswith(
        "unavailable (ConnectionError)"
    )
    assert "db.internal" not in r.text and "10.1.2.3" not in r.text and 'shop\\"' not in r.text
