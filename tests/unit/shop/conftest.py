"""Unit fixtures for the shop: SQLite in a temp dir and Dramatiq's StubBroker with an in-process
worker. The same flows run against PostgreSQL and a real Redis broker in tests/integration."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient

from resilience.shop import ShopContext, ShopSettings, migrate
from resilience.shop.api import create_app

ADMIN_TOKEN = "unit-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def settings(sqlite_url: str) -> ShopSettings:
    return ShopSettings(
        database_url=sqlite_url,
        admin_token=ADMIN_TOKEN,
        job_min_backoff_ms=10,
        job_max_backoff_ms=50,
    )


@pytest.fixture
def ctx(settings: ShopSettings) -> Iterator[ShopContext]:
    migrate.upgrade(settings.database_url)
    broker = StubBroker()
    broker.emit_after("process_boot")
    context = ShopContext.from_settings(settings, broker=broker)
    try:
        yield context
    finally:
        context.close()


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
