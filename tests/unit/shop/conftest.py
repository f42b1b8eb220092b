"""Unit fixtures for the shop: SQLite in a temp dir, Dramatiq's StubBroker with an in-process
worker, in-memory dedup and counter stores, and a fake payment provider behind an
``httpx.MockTransport``. The same flows run against PostgreSQL, Redis and a real HTTP provider in
tests/integration."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import httpx
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient

from resilience.shop import ShopContext, ShopSettings, migrate
from resilience.shop.api import create_app
from resilience.webhooks.dedup import MemorySeenStore
from resilience.webhooks.metrics import MemoryCounterStore
from resilience.webhooks.testing import FakeProvider, PayPalIdentity, paypal_identity

ADMIN_TOKEN = "unit-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STRIPE_SECRET = "whsec_unit_secret"
PAYPAL_WEBHOOK_ID = "WH-UNIT"
PAYPAL_CERT_URL = "https://api.paypal.com/certs/paypal.pem"


@pytest.fixture(scope="session")
def paypal() -> PayPalIdentity:
    return paypal_identity()


@pytest.fixture
def provider(paypal: PayPalIdentity) -> FakeProvider:
    return FakeProvider(certificate_pem=paypal.pem)


@pytest.fixture
def settings(sqlite_url: str, paypal: PayPalIdentity) -> ShopSettings:
    return ShopSettings(
        database_url=sqlite_url,
        admin_token=ADMIN_TOKEN,
        job_min_backoff_ms=10,
        job_max_backoff_ms=50,
        stripe_webhook_secrets=STRIPE_SECRET,
        paypal_webhook_id=PAYPAL_WEBHOOK_ID,
        paypal_cert_roots=paypal.root_pem.decode(),
        stripe_api_base="https://api.stripe.com",
        paypal_api_base="https://api.paypal.com",
        webhook_min_backoff_ms=10,
        webhook_max_backoff_ms=50,
        provider_api_backoff_min_s=0,
        provider_api_backoff_max_s=0,
    )


@pytest.fixture
def ctx(settings: ShopSettings, provider: FakeProvider) -> Iterator[ShopContext]:
    migrate.upgrade(settings.database_url)
    broker = StubBroker()
    broker.emit_after("process_boot")
    http = httpx.Client(transport=httpx.MockTransport(provider))
    context = ShopContext.from_settings(
        settings,
        broker=broker,
        seen=MemorySeenStore(),
        counters=MemoryCounterStore(),
        http_client=http,
    )
    try:
        yield context
    finally:
        context.close()
        http.close()


@pytest.fixture
def worker(ctx: ShopContext) -> Iterator[dramatiq.Worker]:
    w = dramatiq.Worker(ctx.broker, worker_timeout=50, worker_threads=2)
    w.start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def client(ctx: ShopContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def drain(ctx: ShopContext, worker: dramatiq.Worker) -> None:
    """Wait until every queue is empty and the worker idle (retries included)."""
    for _ in range(3):
        ctx.handoff.flush()  # intake enqueues from a background thread
        for queue in (
            ctx.settings.critical_queue,
            ctx.settings.webhooks_queue,
            ctx.settings.orders_queue,
        ):
            ctx.broker.join(queue, fail_fast=False)
        worker.join()
