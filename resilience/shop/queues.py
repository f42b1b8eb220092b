"""Queue protection wired into the shop: the orders queue's global rate limit, slow-job records,
processing counts, queue health and the API's backpressure on new orders.

Only a Redis broker is protected: the limiter, the counters and the backpressure gate live in
the broker's Redis, shared by every API and worker process. With Dramatiq's ``StubBroker`` (unit
tests) there is nothing to protect and :func:`protect` returns ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dramatiq
import redis
from dramatiq.middleware import Retries

from resilience.queues import Backpressure, QueueHealth, SlidingWindowLimiter, Throttle
from resilience.queues.dead import DeadLetters
from resilience.queues.middleware import (
    FailureReasons,
    ProcessedCounter,
    SlowJob,
    SlowJobCallback,
    SlowJobs,
)
from resilience.shop.settings import ShopSettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["ShopQueues", "protect"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShopQueues:
    """What the API and the CLI use: health of every queue, the orders backpressure gate."""

    health: QueueHealth
    backpressure: Backpressure | None
    dead: DeadLetters
    queues: tuple[str, ...]


def protect(
    broker: dramatiq.Broker, settings: ShopSettings, sessions: Callable[[], sessionmaker[Session]]
) -> ShopQueues | None:
    """The queues' middleware on a Redis ``broker`` (rate limit, processed counts, failure
    reasons, slow jobs) and their health, backpressure and dead letters; ``None`` for another
    broker. ``sessions`` gives the session factory when a slow job is recorded: a command that
    only reads queue health never opens the database."""
    client = getattr(broker, "client", None)
    if not isinstance(client, redis.Redis):
        return None
    if settings.orders_rate_limit > 0:
        limiter = SlidingWindowLimiter(
            client,
            f"queues:limit:{settings.orders_queue}",
            limit=settings.orders_rate_limit,
            window_ms=max(1, round(settings.orders_rate_window_s * 1000)),
        )
        broker.add_middleware(
            Throttle({settings.orders_queue: limiter}, jitter_ms=settings.throttle_jitter_ms)
        )
    broker.add_middleware(ProcessedCounter(client))
    # Its after-hook must run after Retries' (which marks a job failed when its retries are
    # spent); Dramatiq runs after-hooks in reverse order, so it goes before Retries.
    keep_ms = int(getattr(broker, "dead_message_ttl", 7 * 24 * 3600 * 1000))
    broker.add_middleware(FailureReasons(client, keep_ms=keep_ms), before=Retries)
    broker.add_middleware(
        SlowJobs(round(settings.slow_job_threshold_s * 1000), _slow_job_recorder(sessions))
    )
    health = QueueHealth(
        client,
        warn=settings.queue_warn_depth,
        critical=settings.queue_critical_depth,
        rate_window_s=settings.queue_rate_window_s,
    )
    backpressure = None
    if settings.backpressure_enabled:
        backpressure = Backpressure(
            client,
            lambda: health.depth(settings.orders_queue),
            queue=settings.orders_queue,
            high=settings.backpressure_high,
            low=settings.backpressure_low,
            retry_after_s=settings.backpressure_retry_after_s,
        )
    queues = (
        settings.critical_queue,
        settings.webhooks_queue,
        settings.orders_queue,
        settings.erp_queue,
    )
    return ShopQueues(health, backpressure, DeadLetters(client), queues)


def _slow_job_recorder(sessions: Callable[[], sessionmaker[Session]]) -> SlowJobCallback:
    def record(job: SlowJob) -> None:
        from resilience.queues.models import SlowJobRow  # the database, only when one is slow

        with sessions().begin() as session:
            session.add(
                SlowJobRow(
                    message_id=job.message_id,
                    job=job.actor_name,
                    queue=job.queue_name,
                    duration_ms=job.duration_ms,
                    failed=job.failed,
                    started_at=datetime.fromtimestamp(job.started_at, UTC),
                )
            )
        # A P3 signal: the escalation policy routes warnings tagged this way.
        log.warning(
            "P3 slow job: %s on %s took %d ms (message %s)",
            job.actor_name,
            job.queue_name,
            job.duration_ms,
            job.message_id,
            extra={"severity": "P3", "signal": "slow_job"},
        )

    return record
