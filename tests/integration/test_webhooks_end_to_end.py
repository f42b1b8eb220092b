"""Webhooks for real: ``shop serve`` + ``shop worker`` processes, PostgreSQL, Redis, and a fake
payment provider on a real loopback HTTP server that fails 30% of API calls.

At-least-once delivery (repeats, same and re-signed) ends with every event applied exactly once
or dead-lettered, and replay drains the dead letters."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, func, select

from resilience.shop.db import normalise_url
from resilience.shop.models import Order, Payment
from resilience.webhooks import paypal as paypal_sig
from resilience.webhooks import standard as standard_sig
from resilience.webhooks import stripe as stripe_sig
from resilience.webhooks.models import WebhookEvent
from resilience.webhooks.testing import (
    FakeProvider,
    PayPalIdentity,
    paypal_event,
    paypal_identity,
    stripe_event,
)
from tests.support.shop import ADMIN, ShopStack, shop_stack

STRIPE_SECRET = "whsec_integration"
PAYPAL_WEBHOOK_ID = "WH-INTEGRATION"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard webhooks integration").decode()
FORGED_SECRET = "whsec_" + base64.b64encode(b"not a secret the shop holds").decode()
STANDARD_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"integration").digest())
STANDARD_SIGNING_KEY = "whsk_" + base64.b64encode(STANDARD_KEY.private_bytes_raw()).decode()
STANDARD_PUBLIC_KEY = (
    "whpk_" + base64.b64encode(STANDARD_KEY.public_key().public_bytes_raw()).decode()
)


@pytest.fixture
def paypal() -> PayPalIdentity:
    return paypal_identity()


@pytest.fixture
def provider(paypal: PayPalIdentity) -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider(failure_rate=0.3, seed=7, certificate_pem=paypal.pem)
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def stack(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    provider: tuple[FakeProvider, str],
    paypal: PayPalIdentity,
) -> Iterator[ShopStack]:
    _, url = provider
    with shop_stack(
        tmp_path,
        postgres_url,
        redis_url,
        SHOP_STRIPE_WEBHOOK_SECRETS=STRIPE_SECRET,
        SHOP_STRIPE_API_BASE=url,
        SHOP_PAYPAL_WEBHOOK_ID=PAYPAL_WEBHOOK_ID,
        SHOP_PAYPAL_API_BASE=url,
        SHOP_PAYPAL_CERT_HOSTS="127.0.0.1",
        SHOP_PAYPAL_CERT_ALLOW_HTTP="true",
        SHOP_PAYPAL_CERT_ROOTS=paypal.root_pem.decode(),
        SHOP_STANDARD_WEBHOOK_SECRETS=STANDARD_SECRET,
        SHOP_STANDARD_WEBHOOK_PUBLIC_KEYS=STANDARD_PUBLIC_KEY,
        SHOP_WEBHOOK_MAX_ATTEMPTS="3",
        SHOP_WEBHOOK_MIN_BACKOFF_MS="20",
        SHOP_WEBHOOK_MAX_BACKOFF_MS="200",
        SHOP_PROVIDER_API_ATTEMPTS="2",
        SHOP_PROVIDER_API_BACKOFF_MIN_S="0.01",
        SHOP_PROVIDER_API_BACKOFF_MAX_S="0.05",
    ) as running:
        yield running


@pytest.fixture
def db(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(postgres_url))
    yield engine
    engine.dispose()


def make_orders(client: httpx.Client, n: int, sku: str) -> list[int]:
    product = client.post(
        "/admin/products",
        headers=ADMIN,
        json={"sku": sku, "name": "Kettle", "price_cents": 3000, "stock": 1000},
    ).json()["id"]
    return [
        client.post("/orders", json={"lines": [{"product_id": product, "quantity": 1}]}).json()[
            "id"
        ]
        for _ in range(n)
    ]


def deliver_stripe(client: httpx.Client, order_id: int, copies: int) -> None:
    body = stripe_event(
        "payment_intent.succeeded",
        {"id": f"pi_{order_id}", "metadata": {"order_id": str(order_id)}},
        event_id=f"evt_{order_id}",
    )
    same = stripe_sig.sign(body, STRIPE_SECRET)
    for i in range(copies):
        # Odd copies replay the same request; even ones are re-signed like a provider retry.
        header = (
            same if i % 2 else stripe_sig.sign(body, STRIPE_SECRET, timestamp=int(time.time()) + i)
        )
        r = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
        assert r.status_code == 200, r.text


def deliver_paypal(
    client: httpx.Client, identity: PayPalIdentity, cert_url: str, order_id: int, copies: int
) -> None:
    body = paypal_event(
        "PAYMENT.CAPTURE.COMPLETED",
        {"id": f"CAP-{order_id}", "custom_id": str(order_id)},
        event_id=f"WH-{order_id}",
    )
    for i in range(copies):
        headers = paypal_sig.sign(
            body,
            identity.private_key,
            webhook_id=PAYPAL_WEBHOOK_ID,
            cert_url=cert_url,
            transmission_id=f"T-{order_id}-{i // 2}",
        )
        r = client.post("/webhooks/paypal", content=body, headers=headers)
        assert r.status_code == 200, r.text


def settled(db: Engine, expected_events: int, timeout_s: float = 60) -> dict[str, int]:
    """Wait until every stored event is processed or dead; returns counts by status."""
    deadline = time.monotonic() + timeout_s
    while True:
        with db.connect() as conn:
            rows = conn.execute(
                select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
            ).all()
        by_status = {status: n for status, n in rows}
        done = by_status.get("processed", 0) + by_status.get("dead", 0)
        if (done == expected_events and sum(by_status.values()) == expected_events) or (
            time.monotonic() > deadline
        ):
            return by_status
        time.sleep(0.2)


def wait_fulfilled(db: Engine, order_ids: list[int], timeout_s: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        with db.connect() as conn:
            done = set(
                conn.scalars(
                    select(Order.id).where(Order.id.in_(order_ids), Order.status == "fulfilled")
                )
            )
        if done == set(order_ids) or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def test_at_least_once_delivery_with_a_flaky_provider(
    stack: ShopStack,
    db: Engine,
    provider: tuple[FakeProvider, str],
    paypal: PayPalIdentity,
) -> None:
    fake, url = provider
    with stack.client() as client:
        stripe_orders = make_orders(client, 20, "KETTLE-S")
        paypal_orders = make_orders(client, 10, "KETTLE-P")
        for i, order_id in enumerate(stripe_orders):
            deliver_stripe(client, order_id, copies=1 + i % 4)
        for i, order_id in enumerate(paypal_orders):
            deliver_paypal(client, paypal, f"{url}/certs/paypal.pem", order_id, copies=1 + i % 3)

        by_status = settled(db, expected_events=30)
        assert sum(by_status.values()) == 30, by_status  # one row per event, never more
        assert set(by_status) <= {"processed", "dead"}, (by_status, stack.worker.log_tail(30))
        assert fake.failures > 0  # the provider really failed calls, and they were retried

        with db.connect() as conn:
            paid_twice = conn.execute(
                select(Payment.order_id)
                .where(Payment.succeeded.is_(True))
                .group_by(Payment.order_id)
                .having(func.count() > 1)
            ).all()
        assert paid_twice == []
        processed_orders = wait_fulfilled(db, stripe_orders + paypal_orders)
        assert len(processed_orders) == by_status.get("processed", 0)

        stats = stack.shop("webhooks", "stats", "--json")
        assert stats.returncode == 0, stats.stderr
        providers = json.loads(stats.stdout)["providers"]
        assert providers["stripe"]["accepted"] == 20
        assert providers["stripe"]["duplicates"] == sum(i % 4 for i in range(20))
        assert 0 < providers["stripe"]["dedup_hit_rate"] < 1


def test_dead_letters_are_listed_and_replay_drains_them(
    stack: ShopStack,
    db: Engine,
    provider: tuple[FakeProvider, str],
) -> None:
    fake, _ = provider
    fake.failure_rate = 1.0  # the provider's API is down
    with stack.client() as client:
        orders = make_orders(client, 5, "KETTLE-D")
        for order_id in orders:
            deliver_stripe(client, order_id, copies=1)
        assert settled(db, expected_events=5) == {"dead": 5}

        listed = stack.shop("webhooks", "failures", "--since", "1h", "--json")
        assert listed.returncode == 0, listed.stderr
        failures = json.loads(listed.stdout)
        assert sorted(f["event_id"] for f in failures) == sorted(f"evt_{o}" for o in orders)
        assert all("ProviderApiError" in f["error_message"] for f in failures)

        dry = stack.shop("webhooks", "retry", "--since", "1h", "--dry-run")
        assert "would replay 5" in dry.stdout

        fake.failure_rate = 0.0  # the provider is back
        replay = stack.shop("webhooks", "retry", "--since", "1h", "--actor", "oncall")
        assert replay.returncode == 0, replay.stderr
        assert "replayed 5 dead letter(s)" in replay.stdout
        assert settled(db, expected_events=5) == {"processed": 5}
        assert wait_fulfilled(db, orders) == set(orders)

        after = stack.shop("webhooks", "failures", "--since", "1h", "--json")
        assert json.loads(after.stdout) == []
        again = stack.shop("webhooks", "retry", "--since", "1h")
        assert "replayed 0 dead letter(s)" in again.stdout


def test_standard_webhooks_v1_and_v1a_pay_each_order_once(stack: ShopStack, db: Engine) -> None:
    """Both Standard Webhooks schemes against the running shop: repeats of the same request,
    re-signed retries (a new timestamp, the same webhook-id) and forgeries."""
    with stack.client() as client:
        orders = make_orders(client, 6, "KETTLE-SW")
        answers: list[tuple[int, str]] = []
        for i, order_id in enumerate(orders):
            body = json.dumps(
                {
                    "type": "payment.succeeded",
                    "timestamp": "2027-01-15T08:00:00Z",
                    "data": {"order_id": order_id, "payment_id": f"pay_{order_id}"},
                }
            ).encode()
            secrets = [STANDARD_SECRET] if i % 2 else []  # odd orders v1, even ones v1a
            signing_keys = [] if i % 2 else [STANDARD_SIGNING_KEY]
            msg_id = f"msg_{order_id}"
            first = standard_sig.sign(body, msg_id, secrets=secrets, signing_keys=signing_keys)
            retry = standard_sig.sign(
                body,
                msg_id,
                secrets=secrets,
                signing_keys=signing_keys,
                timestamp=int(time.time()) + 1,
            )
            forged = standard_sig.sign(body, f"{msg_id}_forged", secrets=[FORGED_SECRET])
            for headers in (first, first, retry, forged):
                r = client.post("/webhooks/standard", content=body, headers=headers)
                answers.append((r.status_code, r.json().get("status") or r.json()["error"]["code"]))
        assert answers.count((400, "bad_signature")) == 6, answers
        assert sum(1 for status, _ in answers if status == 200) == 18, answers
        by_status = settled(db, expected_events=6)
        assert by_status == {"processed": 6}, (by_status, stack.worker.log_tail(30))
        assert wait_fulfilled(db, orders) == set(orders)
        with db.connect() as conn:
            payments = conn.execute(
                select(Payment.order_id, func.count())
                .where(Payment.order_id.in_(orders), Payment.succeeded.is_(True))
                .group_by(Payment.order_id)
            ).all()
        assert sorted(payments) == [(order_id, 1) for order_id in orders]
