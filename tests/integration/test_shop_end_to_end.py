"""The reference service as users run it: ``shop serve`` + ``shop worker`` processes, a real
Redis broker, and SQLite or a real PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness.provision import ManagedProcess, free_port
from tests.support.processes import alive, descendants
from tests.support.servers import RedisServer, ToxiproxyServer
from tests.support.shop import ADMIN, ShopStack, shop_command, shop_stack, wait_for_status
from tests.support.toxiproxy import proxy


@pytest.fixture(params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[ShopStack]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    database_url: str = request.getfixturevalue(fixture)
    with shop_stack(tmp_path, database_url, redis_url) as running:
        yield running


@pytest.fixture
def pg_stack(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[ShopStack]:
    with shop_stack(tmp_path, postgres_url, redis_url) as running:
        yield running


def add_product(client: httpx.Client, stock: int, sku: str = "TEE-1") -> int:
    r = client.post(
        "/admin/products",
        headers=ADMIN,
        json={"sku": sku, "name": "T-shirt", "price_cents": 1999, "stock": stock},
    )
    assert r.status_code == 201, r.text
    product_id: int = r.json()["id"]
    return product_id


def test_order_paid_then_fulfilled_by_the_worker(stack: ShopStack) -> None:
    with stack.client() as client:
        product = add_product(client, stock=5)
        order = client.post("/orders", json={"lines": [{"product_id": product, "quantity": 2}]})
        assert order.status_code == 201
        order_id = order.json()["id"]
        paid = client.post(
            f"/orders/{order_id}/payments",
            headers=ADMIN,
            json={"provider": "stripe", "method": "card", "succeeded": True},
        )
        assert paid.json()["status"] == "paid"
        final = wait_for_status(client, order_id, "fulfilled")
        assert final["status"] == "fulfilled", stack.worker.log_tail()
        assert client.get(f"/products/{product}").json()["stock"] == 3

    listed = stack.shop("orders", "list", "--status", "fulfilled", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f'"id": {order_id}' in listed.stdout


def test_concurrent_orders_never_oversell(pg_stack: ShopStack) -> None:
    with pg_stack.client() as client:
        product = add_product(client, stock=10)

        def order(_: int) -> int:
            with pg_stack.client() as c:
                return c.post(
                    "/orders", json={"lines": [{"product_id": product, "quantity": 1}]}
                ).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(order, range(30)))
        assert sorted(codes) == [201] * 10 + [409] * 20
        assert client.get(f"/products/{product}").json()["stock"] == 0


def test_concurrent_retries_with_one_idempotency_key_make_one_order(pg_stack: ShopStack) -> None:
    with pg_stack.client() as client:
        product = add_product(client, stock=100)

        def order(_: int) -> tuple[int, int]:
            with pg_stack.client() as c:
                r = c.post(
                    "/orders",
                    headers={"Idempotency-Key": "retry-storm-1"},
                    json={"lines": [{"product_id": product, "quantity": 3}]},
                )
                return r.status_code, r.json()["id"]

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(order, range(10)))
        assert {order_id for _, order_id in results} == {results[0][1]}
        assert sorted(code for code, _ in results) == [200] * 9 + [201]
        assert client.get(f"/products/{product}").json()["stock"] == 97
        all_orders = client.get("/admin/orders", headers=ADMIN).json()
        assert len(all_orders) == 1


def test_payment_during_a_redis_outage_is_fulfilled_after_it(
    tmp_path: Path,
    sqlite_url: str,
    redis_url: str,
    redis_server: RedisServer,
    toxiproxy_server: ToxiproxyServer,
) -> None:
    with proxy(toxiproxy_server, "shop_redis", redis_server.port) as redis_proxy:
        proxied_url = f"redis://127.0.0.1:{redis_proxy.port}/0"
        with (
            shop_stack(
                tmp_path,
                sqlite_url,
                proxied_url,
                SHOP_FULFILMENT_SWEEP_INTERVAL_S="0.5",
                SHOP_FULFILMENT_STALE_AFTER_S="1",
                SHOP_REDIS_SOCKET_TIMEOUT_S="1",
            ) as stack,
            stack.client() as client,
        ):
            product = add_product(client, stock=5)
            order_id = client.post(
                "/orders", json={"lines": [{"product_id": product, "quantity": 1}]}
            ).json()["id"]

            redis_proxy.set_enabled(False)
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["error"]["details"]["checks"]["redis"] != "ok"

            paid = client.post(
                f"/orders/{order_id}/payments",
                headers=ADMIN,
                json={"provider": "stripe", "method": "card", "succeeded": True},
            )
            assert paid.status_code == 200, paid.text
            assert paid.json()["status"] == "paid"
            assert wait_for_status(client, order_id, "fulfilled", timeout_s=3)["status"] == "paid"

            redis_proxy.set_enabled(True)
            final = wait_for_status(client, order_id, "fulfilled", timeout_s=30)
            assert final["status"] == "fulfilled", stack.worker.log_tail(40)
            assert "re-enqueued" in stack.worker.log_path.read_text()


def test_api_processes_migrating_at_start_take_turns(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """``shop serve --migrate`` twice at once on an empty PostgreSQL database: both serve, the
    schema is created once (an advisory lock serialises them) and is at head."""
    env = {"DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "SHOP_ADMIN_TOKEN": "t"}
    ports = [free_port(), free_port()]
    apis = [
        ManagedProcess(
            f"api-{i}",
            [*shop_command(), "serve", "--migrate", "--port", str(port)],
            env=env,
            log_path=tmp_path / f"api-{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    try:
        for api in apis:
            api.start()
        for api, port in zip(apis, ports, strict=True):
            api.wait_ready(
                lambda port=port: _answers(f"http://127.0.0.1:{port}/health"),
                timeout_s=60,
                describe="GET /health answers 200",
            )
        for port in ports:
            created = httpx.post(
                f"http://127.0.0.1:{port}/admin/products",
                headers={"Authorization": "Bearer t"},
                json={"sku": f"SKU-{port}", "name": "x", "price_cents": 1, "stock": 1},
                timeout=10,
            )
            assert created.status_code == 201, created.text
    finally:
        for api in apis:
            api.stop()
    logs = "".join((tmp_path / f"api-{i}.log").read_text() for i in range(2))
    assert logs.count("Running upgrade  -> 0001") == 1


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_api_serves_from_several_processes_and_stops_whole(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """``SHOP_API_WORKERS=2``: two uvicorn worker processes on the one port, each with its own
    context; orders placed through it are all there; SIGTERM to the server stops every one."""
    with shop_stack(tmp_path, postgres_url, redis_url, SHOP_API_WORKERS="2") as stack:
        assert stack.api.pid is not None
        # The first worker answering /health is not both: wait for each to say it started.
        stack.api.wait_ready(
            lambda: stack.api.log_path.read_text().count("Application startup complete.") >= 2,
            timeout_s=60,
            describe="both API workers report 'Application startup complete.'",
        )
        children = descendants(stack.api.pid)
        with stack.client() as client:
            made = client.post(
                "/admin/products",
                headers=ADMIN,
                json={"sku": "MULTI-1", "name": "x", "price_cents": 100, "stock": 50},
            )
            assert made.status_code == 201, made.text
            product = made.json()["id"]
            codes = [
                client.post(
                    "/orders",
                    headers={"Idempotency-Key": f"multi-{i}"},
                    json={"lines": [{"product_id": product, "quantity": 1}]},
                ).status_code
                for i in range(20)
            ]
        assert codes == [201] * 20
        log = stack.api.log_path.read_text()
        started = set(re.findall(r"Started server process \[(\d+)\]", log))
        assert len(started) == 2, log[-2000:]
        assert {int(pid) for pid in started} <= children
        listed = stack.shop("orders", "list", "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 20
    assert [pid for pid in children if alive(pid)] == []
