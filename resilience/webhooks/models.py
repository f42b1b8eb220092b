"""Tables of the webhook inbox (dedup layer 2) and its dead letters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from resilience.persistence import Base, Id, UtcDateTime

__all__ = ["EventRef", "EventStatus", "WebhookEvent", "WebhookFailure"]


class EventStatus(StrEnum):
    RECEIVED = "received"  # stored, waiting for (or between) processing attempts
    PROCESSED = "processed"  # its effect is applied
    IGNORED = "ignored"  # verified, but of a type with no effect here
    DEAD = "dead"  # attempts exhausted; a row in webhook_failures says why


class EventRef(NamedTuple):
    """A stored event as handed to the job queue: its row, and what routes it to a queue."""

    row_id: int
    provider: str
    event_type: str


class WebhookEvent(Base):
    """One provider event, stored once: (provider, event_id) is unique, so a re-signed retry
    days later cannot have a second effect. (provider, delivery_id) is unique too: a delivery
    id the provider signs (PayPal's transmission id) brings one body, never a second event."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("uq_webhook_events_delivery", "provider", "delivery_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)  # the raw body, exactly as signed
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    delivery_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookFailure(Base):
    """A dead letter: an event whose processing failed on every attempt.

    Columns follow the resilience plan (provider, event_type, payload, error_message,
    retry_count, last_retry_at, timestamps) plus the event id and who replayed it last.
    """

    __tablename__ = "webhook_failures"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    webhook_event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    payload: Mapped[Any] = mapped_column(JSON)
    error_message: Mapped[str] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    last_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    replayed_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
