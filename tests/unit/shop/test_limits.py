"""Every JSON route's body is bounded before parsing; every integer is bounded by its column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from resilience.shop import ShopContext
from resilience.shop.models import Order
from tests.unit.shop.conftest import ADMIN
from tests.unit.shop.test_webhooks_api import count, new_order


def test_a_declared_body_over_the_limit_is_413_before_parsing(
    client: TestClient, ctx: ShopContext
) -> None:
    limit = ctx.settings.max_body_bytes
    body = b'{"lines": [' + b" " * limit + b"]}"
    r = client.post("/orders", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"
    assert "SHOP_MAX_BODY_BYTES" in r.json()["error"]["message"]
    assert count(ctx, Order) == 0
    assert client.get("/health/live").status_code == 200


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient, ctx: ShopContext) -> None:
    limit = ctx.settings.max_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"lines": ['
        while sent < 50 * limit:  # far more than the limit, if anyone read it all
            sent += 4096
            yield b" " * 4096
        yield b"]}"

    r = client.post("/orders", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"
    assert count(ctx, Order) == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/orders", {"lines": [{"product_id": 2**63, "quantity": 1}]}, "lines.0.product_id"),
        ("/orders", {"lines": [{"product_id": 1, "quantity": 2**31}]}, "lines.0.quantity"),
        ("/orders", {"lines": [{"product_id": 1, "quantity": 1}] * 1001}, "lines"),
        ("/admin/products", {"sku": "S", "name": "n", "price_cents": 1, "stock": 2**31}, "stock"),
        (
            "/admin/products",
            {"sku": "S", "name": "n", "price_cents": 2**63, "stock": 1},
            "price_cents",
        ),
    ],
)
def test_integers_and_lists_past_their_columns_are_422_naming_the_field(
    client: TestClient, path: str, body: object, field: str
) -> None:
    r = client.post(path, json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["error"]["details"]["fields"]]


def test_a_path_id_past_int64_is_422(client: TestClient) -> None:
    new_order(client)
    r = client.get(f"/orders/{2**63}")
    assert r.status_code == 422, r.text
