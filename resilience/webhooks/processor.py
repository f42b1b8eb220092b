"""Applying stored events: idempotent handlers, attempts counted, dead letters, replay.

A job calls :meth:`WebhookProcessor.process` with an event's row id. The handler for the
event's (provider, type) applies its effect; it must be idempotent, because an event can be
processed more than once (a job enqueued twice, a crash between effect and bookkeeping). A
failing attempt is recorded and re-raised so the queue retries it with backoff; the last
attempt moves the event to ``webhook_failures`` instead. Replay sends dead letters back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit.trail import Actor
from resilience.errors import DispatchFailed, UnprocessableEvent
from resilience.webhooks.metrics import WebhookMetrics
from resilience.webhooks.models import EventRef, EventStatus, WebhookEvent, WebhookFailure

__all__ = ["FailureView", "Handler", "ReplayRecord", "StoredEvent", "WebhookProcessor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredEvent:
    """An event as a handler sees it."""

    id: int
    provider: str
    event_id: str
    event_type: str
    document: Mapping[str, Any]
    attempts: int


#: Applies one event's effect; returns a short note for the inbox (or None). Raise to retry.
Handler = Callable[[StoredEvent], str | None]


@dataclass(frozen=True)
class FailureView:
    id: int
    webhook_event_id: int
    provider: str
    event_id: str
    event_type: str
    error_message: str
    retry_count: int
    last_retry_at: datetime | None
    replayed_by: str | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReplayRecord:
    """Who replayed which dead letter and when, with the state before and after (handed to the
    audit hook inside the replay's transaction)."""

    actor: Actor
    failure: FailureView
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]


class WebhookProcessor:
    """Process, dead-letter and replay webhook events.

    Parameters:
        sessions: session factory of the inbox database.
        handlers: (provider, event type) -> handler; other types are stored as ``ignored``.
        max_attempts: attempts before an event becomes a dead letter.
        enqueue: hands an event row id to the processing job (used by replay).
        metrics: counters; optional.
        on_replay: called once per replayed dead letter, inside the transaction that replays it
            (the audit trail hooks in here: its row commits or rolls back with the replay).
        clock: current UTC time.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        handlers: Mapping[tuple[str, str], Handler],
        *,
        max_attempts: int,
        enqueue: Callable[[EventRef], None],
        metrics: WebhookMetrics | None = None,
        on_replay: Callable[[Session, ReplayRecord], object] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts!r}: must be at least 1")
        self._sessions = sessions
        self._handlers = dict(handlers)
        self._max_attempts = max_attempts
        self._enqueue = enqueue
        self._metrics = metrics
        self._on_replay = on_replay
        self._clock = clock

    def _count(self, name: str, provider: str) -> None:
        if self._metrics is not None:
            self._metrics.count(name, provider)

    def process(self, event_row_id: int) -> EventStatus:
        """Apply one event. Returns its status afterwards.

        Raises:
            Exception: whatever the handler raised, when attempts remain (the queue retries).
        """
        with self._sessions() as session:
            row = session.get(WebhookEvent, event_row_id)
            if row is None:
                raise LookupError(f"webhook event row {event_row_id} does not exist")
            status = EventStatus(row.status)
            if status is not EventStatus.RECEIVED:
                return status  # processed, ignored, or dead until replayed: nothing to do
            event = StoredEvent(
                id=row.id,
                provider=row.provider,
                event_id=row.event_id,
                event_type=row.event_type,
                document=json.loads(row.payload),
                attempts=row.attempts,
            )
        handler = self._handlers.get((event.provider, event.event_type))
        if handler is None:
            self._finish(event, EventStatus.IGNORED, f"no handler for {event.event_type!r}")
            self._count("ignored", event.provider)
            return EventStatus.IGNORED
        try:
            note = handler(event)
        except UnprocessableEvent as exc:
            self._record_failure(event, exc, final=True)
            return EventStatus.DEAD
        except Exception as exc:
            if self._record_failure(event, exc):
                return EventStatus.DEAD
            raise
        self._finish(event, EventStatus.PROCESSED, note)
        self._count("processed", event.provider)
        return EventStatus.PROCESSED

    def _finish(self, event: StoredEvent, status: EventStatus, note: str | None) -> None:
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(WebhookEvent, event.id, with_for_update=True)
            assert row is not None
            row.status = status.value
            row.note = note
            row.processed_at = now
            row.updated_at = now
            failure = session.scalar(
                select(WebhookFailure).where(WebhookFailure.webhook_event_id == event.id)
            )
            if failure is not None and failure.resolved_at is None:
                failure.resolved_at = now
                failure.updated_at = now

    def _record_failure(self, event: StoredEvent, exc: Exception, *, final: bool = False) -> bool:
        """Count a failed attempt; True when it was the last and the event is now dead."""
        now = self._clock()
        error = f"{type(exc).__name__}: {exc}"
        with self._sessions.begin() as session:
            row = session.get(WebhookEvent, event.id, with_for_update=True)
            assert row is not None
            row.attempts += 1
            row.last_error = error
            row.updated_at = now
            if row.attempts < self._max_attempts and not final:
                log.warning(
                    "%s event %s attempt %d/%d failed: %s",
                    event.provider,
                    event.event_id,
                    row.attempts,
                    self._max_attempts,
                    error,
                )
                dead = False
            else:
                row.status = EventStatus.DEAD.value
                self._upsert_failure(session, row, event.document, error, now)
                log.error(
                    "%s event %s dead-lettered after %d attempts: %s",
                    event.provider,
                    event.event_id,
                    row.attempts,
                    error,
                )
                dead = True
        self._count("dead_lettered" if dead else "failed", event.provider)
        return dead

    @staticmethod
    def _upsert_failure(
        session: Session,
        row: WebhookEvent,
        document: Mapping[str, Any],
        error: str,
        now: datetime,
    ) -> None:
        failure = session.scalar(
            select(WebhookFailure).where(WebhookFailure.webhook_event_id == row.id)
        )
        if failure is None:
            session.add(
                WebhookFailure(
                    webhook_event_id=row.id,
                    provider=row.provider,
                    event_id=row.event_id,
                    event_type=row.event_type,
                    payload=dict(document),
                    error_message=error,
                    retry_count=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:  # failed again after a replay
            failure.error_message = error
            failure.resolved_at = None
            failure.updated_at = now

    # -- dead letters ----------------------------------------------------------------------

    def failures(
        self,
        *,
        since: datetime | None = None,
        provider: str | None = None,
        include_resolved: bool = False,
    ) -> list[FailureView]:
        """Dead letters last failed at or after ``since``, oldest first."""
        query = select(WebhookFailure).order_by(WebhookFailure.updated_at, WebhookFailure.id)
        if since is not None:
            query = query.where(WebhookFailure.updated_at >= since)
        if provider is not None:
            query = query.where(WebhookFailure.provider == provider)
        if not include_resolved:
            query = query.where(WebhookFailure.resolved_at.is_(None))
        with self._sessions() as session:
            return [_view(f) for f in session.scalars(query)]

    def replay(
        self,
        *,
        actor: Actor | str,
        since: datetime | None = None,
        provider: str | None = None,
        dry_run: bool = False,
    ) -> list[FailureView]:
        """Send unresolved dead letters back for processing: the event gets fresh attempts,
        the failure's ``retry_count`` grows and ``last_retry_at``/``replayed_by`` are set.
        Idempotent: the handlers are, and a processed event is never applied again."""
        who = actor if isinstance(actor, Actor) else Actor(actor.strip())
        if not who.user_id.strip():
            raise ValueError("replay needs the name of who replays (actor)")
        candidates = self.failures(since=since, provider=provider)
        if dry_run:
            return candidates
        now = self._clock()
        replayed: list[FailureView] = []
        for candidate in candidates:
            with self._sessions.begin() as session:
                failure = session.get(WebhookFailure, candidate.id, with_for_update=True)
                event = session.get(WebhookEvent, candidate.webhook_event_id, with_for_update=True)
                if failure is None or event is None or failure.resolved_at is not None:
                    continue
                if event.status != EventStatus.DEAD.value:
                    continue  # already replayed by someone else and not failed again yet
                before = _replay_state(failure, event)
                failure.retry_count += 1
                failure.last_retry_at = now
                failure.replayed_by = who.user_id
                failure.updated_at = now
                event.status = EventStatus.RECEIVED.value
                event.attempts = 0
                event.updated_at = now
                view = _view(failure)
                if self._on_replay is not None:
                    record = ReplayRecord(who, view, now, before, _replay_state(failure, event))
                    self._on_replay(session, record)
            try:
                self._enqueue(EventRef(view.webhook_event_id, view.provider, view.event_type))
            except DispatchFailed as exc:
                # The event is stored as received; the worker's sweep enqueues it later.
                log.warning("%s; the sweep will enqueue it", exc)
            self._count("replayed", view.provider)
            replayed.append(view)
        return replayed


def _replay_state(failure: WebhookFailure, event: WebhookEvent) -> dict[str, Any]:
    return {
        "event_status": event.status,
        "attempts": event.attempts,
        "retry_count": failure.retry_count,
    }


def _view(f: WebhookFailure) -> FailureView:
    return FailureView(
        id=f.id,
        webhook_event_id=f.webhook_event_id,
        provider=f.provider,
        event_id=f.event_id,
        event_type=f.event_type,
        error_message=f.error_message,
        retry_count=f.retry_count,
        last_retry_at=f.last_retry_at,
        replayed_by=f.replayed_by,
        resolved_at=f.resolved_at,
        created_at=f.created_at,
        updated_at=f.updated_at,
    )
