"""The inbox (dedup layer 2) on SQLite and on a real PostgreSQL: a stored event is committed
(another connection reads it), a repeat is not stored twice, a delivery id replayed over another
body is refused, a connection the database dropped is replaced once, and a database that is
gone is an error the route answers with 503 (a SQLAlchemy error), never a lost acknowledgement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from resilience.errors import SignatureInvalid
from resilience.shop import ShopSettings, migrate
from resilience.shop.db import make_engine
from resilience.webhooks.delivery import VerifiedDelivery
from resilience.webhooks.inbox import Inbox
from resilience.webhooks.models import WebhookEvent
from tests.support.servers import PostgresServer


def delivery(
    event_id: str, body: bytes = b'{"id": 1}', delivery_id: str | None = None
) -> VerifiedDelivery:
    return VerifiedDelivery(
        provider="paypal",
        event_id=event_id,
        event_type="PAYMENT.CAPTURE.COMPLETED",
        payload=body,
        document={},
        delivery_key=delivery_id or event_id,
        signed_at=datetime.now(UTC),
        delivery_id=delivery_id,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(f"{request.param}_url")
    migrate.upgrade(value)
    return value


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    made = make_engine(ShopSettings(database_url=url), autocommit=True)
    try:
        yield made
    finally:
        made.dispose()


def stored(url: str) -> list[tuple[str, str | None]]:
    """What another engine (another connection) reads: committed rows only."""
    reader = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with reader.connect() as connection:
            return [
                (row.event_id, row.delivery_id)
                for row in connection.execute(select(WebhookEvent).order_by(WebhookEvent.id))
            ]
    finally:
        reader.dispose()


def test_stored_once_committed_and_a_replayed_delivery_id_refused(url: str, engine: Engine) -> None:
    inbox = Inbox(engine)
    row, created = inbox.store(delivery("WH-1", delivery_id="T-1"))
    assert created
    assert inbox.store(delivery("WH-1", delivery_id="T-1")) == (row, False)
    with pytest.raises(SignatureInvalid, match="stored with another body"):
        inbox.store(delivery("WH-2", b'{"id": 2}', delivery_id="T-1"))
    second, created = inbox.store(delivery("WH-3", delivery_id="T-3"))
    assert created and second != row
    assert stored(url) == [("WH-1", "T-1"), ("WH-3", "T-3")]


@pytest.mark.integration
def test_a_connection_the_database_dropped_is_replaced_once(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(ShopSettings(database_url=postgres_url), autocommit=True)
    try:
        inbox = Inbox(engine)
        inbox.store(delivery("before"))  # the pool now holds a connection
        database = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(
            host="127.0.0.1", port=postgres_server.port, user="postgres", autocommit=True
        ) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            ).fetchone()
        assert ended is not None and ended[0] >= 1
        _, created = inbox.store(delivery("after"))
        assert created
        assert [event for event, _ in stored(postgres_url)] == ["before", "after"]
    finally:
        engine.dispose()


@pytest.mark.integration
def test_a_database_that_is_gone_is_a_sqlalchemy_error_and_stores_nothing(
    postgres_url: str,
) -> None:
    migrate.upgrade(postgres_url)
    gone = postgres_url.rsplit("/", 1)[0] + f"/missing_{uuid.uuid4().hex[:8]}"
    engine = make_engine(ShopSettings(database_url=gone), autocommit=True)
    try:
        with pytest.raises(SQLAlchemyError):
            Inbox(engine).store(delivery("lost?"))
    finally:
        engine.dispose()
    assert stored(postgres_url) == []
