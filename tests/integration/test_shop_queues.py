"""The shop's queue protection on a real Redis broker: backpressure on POST /orders with
Retry-After (nothing stored while refused), ``shop queue health`` exit codes, and failed jobs
listed and retried."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from resilience.shop.api import create_app
from resilience.shop.context import ShopContext
from resilience.shop.migrate import upgrade
from resilience.shop.settings import ShopSettings
from tests.support.shop import shop_command

ADMIN = {"Authorization": "Bearer t"}


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> ShopSettings:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    return ShopSettings(
        database_url=url,
        redis_url=redis_url,
        admin_token="t",
        backpressure_high=3,
        backpressure_low=1,
        backpressure_retry_after_s=9,
        queue_warn_depth=2,
        queue_critical_depth=4,
    )


@pytest.fixture
def ctx(settings: ShopSettings) -> Iterator[ShopContext]:
    context = ShopContext.from_settings(settings)
    yield context
    context.close()


def fill_orders_queue(redis_url: str, n: int) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete("dramatiq:orders")
    if n:
        client.rpush("dramatiq:orders", *[f"fake-{i}" for i in range(n)])
    client.close()


def test_new_orders_get_429_with_retry_after_while_the_queue_is_deep(
    ctx: ShopContext, redis_url: str
) -> None:
    with TestClient(create_app(ctx)) as client:
        product = client.post(
            "/admin/products",
            headers=ADMIN,
            json={"sku": "A", "name": "a", "price_cents": 1, "stock": 100},
        ).json()["id"]
        body = {"lines": [{"product_id": product, "quantity": 1}]}

        def order() -> int:
            return client.post("/orders", json=body).status_code

        fill_orders_queue(redis_url, 4)  # above high (3)
        refused = client.post("/orders", json=body)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "9"
        assert refused.json()["error"]["details"]["queue_depth"] == 4
        fill_orders_queue(redis_url, 2)  # between the watermarks: still refused
        assert order() == 429
        fill_orders_queue(redis_url, 1)  # at low: open again
        assert order() == 201
        fill_orders_queue(redis_url, 3)  # at high, not above: still open
        assert order() == 201
        orders = client.get("/admin/orders", headers=ADMIN).json()
        assert len(orders) == 2  # the refused ones stored nothing


def shop(settings: ShopSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SHOP_QUEUE_WARN_DEPTH": "2",
        "SHOP_QUEUE_CRITICAL_DEPTH": "4",
    }
    return subprocess.run(
        [*shop_command(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_queue_health_says_warn_and_exits_3_when_critical(
    settings: ShopSettings, redis_url: str
) -> None:
    fill_orders_queue(redis_url, 3)
    warn = shop(settings, "queue", "health", "--json")
    assert warn.returncode == 0, warn.stderr
    orders = next(q for q in json.loads(warn.stdout)["queues"] if q["queue"] == "orders")
    assert (orders["ready"], orders["depth"], orders["status"]) == (3, 3, "WARN")
    fill_orders_queue(redis_url, 5)
    critical = shop(settings, "queue", "health")
    assert critical.returncode == 3
    assert "CRITICAL" in critical.stdout


def test_failed_jobs_are_listed_and_retried_with_a_fresh_budget(
    settings: ShopSettings, ctx: ShopContext
) -> None:
    import dramatiq

    # A fulfilment job for an order that does not exist fails on every retry.
    failing = settings.model_copy(update={"job_max_retries": 0, "job_min_backoff_ms": 0})
    context = ShopContext.from_settings(failing)
    try:
        context.jobs.process_order.send(424242)
        worker = dramatiq.Worker(context.broker, worker_threads=1, worker_timeout=50)
        worker.start()
        try:
            client = redis.Redis.from_url(settings.redis_url)
            for _ in range(200):
                if client.zcard("dramatiq:orders.XQ"):
                    break
                import time

                time.sleep(0.05)
        finally:
            worker.stop()
    finally:
        context.close()
    listed = shop(settings, "queue", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    dead = json.loads(listed.stdout)
    assert [(d["job"], d["args"]) for d in dead] == [("process_order", [424242])]
    assert dead[0]["error"] == "UnknownOrder: order 424242 does not exist"
    nothing = shop(settings, "queue", "retry-failed", "--job", "sync_stock", "--json")
    assert json.loads(nothing.stdout) == {"requeued": 0, "found": 0}
    retried = shop(settings, "queue", "retry-failed", "--job", "process_order", "--json")
    assert json.loads(retried.stdout) == {"requeued": 1, "found": 1}
    client = redis.Redis.from_url(settings.redis_url)
    assert client.zcard("dramatiq:orders.XQ") == 0
    assert client.keys("queues:dead:reason:*") == []  # the reason goes with the dead letter
    assert client.llen("dramatiq:orders") == 1
    body = client.hget("dramatiq:orders.msgs", client.lindex("dramatiq:orders", 0))
    assert json.loads(body)["options"]["retries"] == 0
    client.close()


def test_a_payment_webhook_overtakes_a_throttled_fulfilment_backlog(
    settings: ShopSettings,
) -> None:
    """Eight paid orders wait behind a fulfilment limit of 2 per 30 s; a Stripe payment event
    arriving after them is routed to the critical queue and applied while the backlog still
    waits for its window, and a non-payment event goes to the webhooks queue."""
    import time

    import dramatiq

    from resilience.webhooks import stripe as stripe_sig
    from resilience.webhooks.testing import stripe_event

    secret = "whsec_critical"
    throttled = settings.model_copy(
        update={
            "orders_rate_limit": 2,
            "orders_rate_window_s": 30.0,
            "throttle_jitter_ms": 0,
            "backpressure_high": 1000,
            "backpressure_low": 10,
            "queue_warn_depth": 1000,
            "queue_critical_depth": 2000,
            "stripe_webhook_secrets": SecretStr(secret),
        }
    )
    context = ShopContext.from_settings(throttled)
    worker = dramatiq.Worker(context.broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        with TestClient(create_app(context)) as client:
            product = client.post(
                "/admin/products",
                headers=ADMIN,
                json={"sku": "A", "name": "a", "price_cents": 100, "stock": 100},
            ).json()["id"]
            body = {"lines": [{"product_id": product, "quantity": 1}]}
            paid = {"provider": "stripe", "method": "card", "succeeded": True}
            for _ in range(8):
                order = client.post("/orders", json=body).json()["id"]
                assert (
                    client.post(f"/orders/{order}/payments", headers=ADMIN, json=paid).status_code
                    == 200
                )
            late = client.post("/orders", json=body).json()["id"]

            def deliver(event_type: str, obj: dict[str, object]) -> None:
                raw = stripe_event(event_type, obj)
                answer = client.post(
                    "/webhooks/stripe",
                    content=raw,
                    headers={"Stripe-Signature": stripe_sig.sign(raw, secret)},
                )
                assert answer.status_code == 200, answer.text

            deliver(
                "payment_intent.succeeded",
                {
                    "id": "pi_late",
                    "object": "payment_intent",
                    "metadata": {"order_id": str(late)},
                    "payment_method_types": ["card"],
                },
            )
            deliver("customer.created", {"id": "cus_1", "object": "customer"})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if client.get(f"/orders/{late}").json()["status"] == "paid":
                    break
                time.sleep(0.05)
            statuses = [o["status"] for o in client.get("/admin/orders", headers=ADMIN).json()]
        assert client.get(f"/orders/{late}").json()["status"] == "paid"
        # The backlog is still held by the limit: at most one window's worth is fulfilled.
        assert statuses.count("fulfilled") <= 2
        assert statuses.count("paid") >= 7
        assert context.queues is not None
        health = context.queues.health
        assert health.stats("critical").processed_per_min > 0  # the payment event
        assert health.stats("webhooks").processed_per_min > 0  # customer.created
    finally:
        worker.stop()
        context.close()


def test_queue_health_loads_neither_the_database_nor_the_web(redis_url: str) -> None:
    from tests.unit.test_cli_imports import loaded_after

    env = {"REDIS_URL": redis_url, "DATABASE_URL": "sqlite:///unused.db"}
    loaded = loaded_after(["shop", "queue", "health", "--json"], "resilience.shop.cli:main", env)
    assert "redis" in loaded  # it did read the queues
    unused = {"sqlalchemy", "fastapi", "uvicorn", "alembic", "httpx", "psycopg"}
    assert loaded.isdisjoint(unused), sorted(loaded & unused)
