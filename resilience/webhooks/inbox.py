"""Dedup layer 2 and the inbox: a verified event is stored once per (provider, event id)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from resilience.webhooks.delivery import VerifiedDelivery
from resilience.webhooks.models import EventStatus, WebhookEvent

__all__ = ["Inbox"]


class Inbox:
    """Stores verified deliveries; the unique constraint makes storing idempotent."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def store(self, delivery: VerifiedDelivery) -> tuple[int, bool]:
        """Store ``delivery``; returns ``(event row id, created)``.

        ``created`` is False when the provider already delivered this event (any signature,
        any time): the caller acknowledges it and does nothing else.
        """
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                event = WebhookEvent(
                    provider=delivery.provider,
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    payload=delivery.payload.decode("utf-8"),
                    status=EventStatus.RECEIVED.value,
                    attempts=0,
                    received_at=now,
                    updated_at=now,
                )
                session.add(event)
                session.flush()
                return event.id, True
        except IntegrityError:
            with self._sessions() as session:
                existing = session.scalar(
                    select(WebhookEvent.id).where(
                        WebhookEvent.provider == delivery.provider,
                        WebhookEvent.event_id == delivery.event_id,
                    )
                )
            if existing is None:  # the violation was something else
                raise
            return existing, False

    def stale_received(self, *, received_before: datetime, limit: int = 1000) -> list[int]:
        """Events still waiting for their first processing (their job was never enqueued)."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(WebhookEvent.id)
                    .where(
                        WebhookEvent.status == EventStatus.RECEIVED.value,
                        WebhookEvent.attempts == 0,
                        WebhookEvent.updated_at < received_before,
                    )
                    .order_by(WebhookEvent.id)
                    .limit(limit)
                )
            )
