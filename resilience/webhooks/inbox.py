"""Dedup layer 2 and the inbox: a verified event is stored once per (provider, event id)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

from resilience.errors import SignatureInvalid
from resilience.webhooks.dedup import body_digest
from resilience.webhooks.delivery import VerifiedDelivery
from resilience.webhooks.models import EventRef, EventStatus, WebhookEvent

__all__ = ["Inbox"]

_COLUMNS = (
    "provider",
    "event_id",
    "event_type",
    "payload",
    "payload_sha256",
    "delivery_id",
    "status",
    "attempts",
    "received_at",
    "updated_at",
)


class Inbox:
    """Stores verified deliveries; the unique constraint makes storing idempotent.

    Parameters:
        engine: an autocommit engine (:func:`resilience.shop.db.make_engine` with
            ``autocommit=True``): one statement per delivery, no transaction round trips.
        clock: current UTC time.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._clock = clock
        # Built once: constructing a statement per delivery costs more than executing it.
        lite = sqlite.insert(WebhookEvent).on_conflict_do_nothing()
        self._insert: Executable = lite.returning(WebhookEvent.id)
        # On PostgreSQL the statement is compiled once to the driver's SQL and run on the pooled
        # DBAPI connection: SQLAlchemy's per-execution work (context, result proxy) cost a third
        # of the insert's time (0.30 vs 0.20 ms measured side by side). Every value is a plain
        # driver type (str, int, an aware datetime for timestamptz), so nothing is lost.
        self._insert_sql: str | None = None
        if engine.dialect.name == "postgresql":
            pg = postgresql.insert(WebhookEvent).values({c: bindparam(c) for c in _COLUMNS})
            returning = pg.on_conflict_do_nothing().returning(WebhookEvent.id)
            self._insert_sql = str(returning.compile(dialect=engine.dialect))

    def store(self, delivery: VerifiedDelivery, digest: str | None = None) -> tuple[int, bool]:
        """Store ``delivery``; returns ``(event row id, created)``.

        ``created`` is False when the provider already delivered this event (any signature,
        any time): the caller acknowledges it and does nothing else. ``digest`` is the body's
        :func:`~resilience.webhooks.dedup.body_digest` when the caller has it.

        Raises:
            SignatureInvalid: the delivery's id was stored with another event or body (a
                genuine delivery's signature replayed over a crafted body).
        """
        now = self._clock()
        values: dict[str, object] = {
            "provider": delivery.provider,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "payload": delivery.payload.decode("utf-8"),
            "payload_sha256": digest or body_digest(delivery.payload),
            "delivery_id": delivery.delivery_id,
            "status": EventStatus.RECEIVED.value,
            "attempts": 0,
            "received_at": now,
            "updated_at": now,
        }
        # One statement in autocommit: INSERT ... ON CONFLICT DO NOTHING RETURNING id. This is the
        # hot path of intake; the unique constraint decides, even between concurrent requests.
        # The statement is idempotent, so a connection dropped by a database restart is retried
        # once on a fresh one instead of paying a pre-ping round trip on every delivery.
        try:
            return self._store(values, delivery)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return self._store(values, delivery)

    def _store(self, values: dict[str, object], delivery: VerifiedDelivery) -> tuple[int, bool]:
        inserted = self._insert_row(values)
        if inserted is not None:
            return inserted, True
        with self._engine.connect() as connection:
            same = [WebhookEvent.event_id == delivery.event_id]
            if delivery.delivery_id is not None:
                same.append(WebhookEvent.delivery_id == delivery.delivery_id)
            rows = connection.execute(
                select(
                    WebhookEvent.id,
                    WebhookEvent.event_id,
                    WebhookEvent.delivery_id,
                    WebhookEvent.payload_sha256,
                ).where(WebhookEvent.provider == delivery.provider, or_(*same))
            ).all()
        for _row, event_id, delivery_id, digest in rows:
            reused = delivery.delivery_id
            if (
                reused is not None
                and delivery_id == reused
                and (event_id != delivery.event_id or digest != values["payload_sha256"])
            ):
                raise SignatureInvalid(
                    delivery.provider,
                    "reused_delivery",
                    f"delivery {reused[:80]!r} is stored with another body; a "
                    "genuine delivery's signature replayed over a new body is refused",
                )
        return rows[0][0], False

    def _insert_row(self, values: dict[str, object]) -> int | None:
        """The new row's id, or None when a unique constraint already holds the event."""
        if self._insert_sql is None:
            with self._engine.connect() as connection:
                inserted: int | None = connection.execute(self._insert, values).scalar()
                return inserted
        dialect = self._engine.dialect
        raw = None
        try:
            raw = self._engine.raw_connection()  # a refused connect raises the driver's error
            cursor = raw.cursor()
            try:
                cursor.execute(self._insert_sql, values)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as exc:
            # Raised as SQLAlchemy raises it (the route answers 503 on any SQLAlchemyError),
            # with the pooled connection dropped when the database went away under it.
            gone = raw is not None and dialect.is_disconnect(exc, raw.dbapi_connection, None)
            if gone and raw is not None:
                raw.invalidate(exc)
            raise DBAPIError.instance(
                self._insert_sql,
                values,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=gone,
                dialect=dialect,
            ) from exc
        finally:
            if raw is not None:
                raw.close()
        return None if row is None else int(row[0])

    def stale_received(self, *, received_before: datetime, limit: int = 1000) -> list[EventRef]:
        """Events still waiting for their first processing (their job was never enqueued)."""
        with self._engine.connect() as connection:
            return [
                EventRef(*row)
                for row in connection.execute(
                    select(WebhookEvent.id, WebhookEvent.provider, WebhookEvent.event_type)
                    .where(
                        WebhookEvent.status == EventStatus.RECEIVED.value,
                        WebhookEvent.attempts == 0,
                        WebhookEvent.updated_at < received_before,
                    )
                    .order_by(WebhookEvent.id)
                    .limit(limit)
                )
            ]
