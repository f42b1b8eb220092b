"""Dramatiq middleware for queue protection: throttling, slow-job detection, processing counts.

``Throttle`` asks a queue's :class:`~resilience.queues.limiter.SlidingWindowLimiter` before a job
runs. A refused job is put back on the queue's delay queue for as long as the window needs
(plus jitter, so throttled jobs do not all come back at once) and skipped: it never raised, so
Dramatiq's ``Retries`` middleware never counts it, and throttling cannot use up a job's retry
budget. Queues without a limiter (the critical queue) are never delayed.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name
from dramatiq.middleware import Middleware, SkipMessage

from resilience.queues.limiter import SlidingWindowLimiter

__all__ = [
    "FailureReasons",
    "ProcessedCounter",
    "SlowJob",
    "SlowJobCallback",
    "SlowJobs",
    "Throttle",
    "failure_reason_key",
]

log = logging.getLogger(__name__)


class Throttle(Middleware):
    """Delay jobs of rate-limited queues until their window has room.

    Parameters:
        limiters: queue name -> its limiter; queues not named are never throttled.
        jitter_ms: up to this much random delay is added to a throttled job's wait.
        rng: source of the jitter (seedable in tests).
    """

    def __init__(
        self,
        limiters: Mapping[str, SlidingWindowLimiter],
        *,
        jitter_ms: int = 250,
        rng: random.Random | None = None,
    ) -> None:
        self.limiters = dict(limiters)
        self.jitter_ms = jitter_ms
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        limiter = self.limiters.get(q_name(message.queue_name))
        if limiter is None:
            return
        try:
            answer = limiter.acquire()
        except redis.RedisError as exc:
            # The broker lives on the same Redis: if it cannot answer, neither can the queue.
            # Running the job is better than losing it to a limiter we cannot ask.
            log.warning("rate limiter %s unavailable (%s); job runs unthrottled", limiter.key, exc)
            return
        if answer.allowed:
            return
        delay_ms = answer.retry_after_ms + self._rng.randint(0, self.jitter_ms)
        options = {**message.options, "throttled": int(message.options.get("throttled", 0)) + 1}
        original: dramatiq.Message[Any] = message._message
        broker.enqueue(original.copy(options=options), delay=delay_ms)
        log.info(
            "job %s (%s) throttled on %s: %d in the window; back in %d ms",
            message.message_id,
            message.actor_name,
            message.queue_name,
            answer.in_window,
            delay_ms,
        )
        raise SkipMessage


@dataclass(frozen=True)
class SlowJob:
    """A job that ran longer than the threshold."""

    message_id: str
    actor_name: str
    queue_name: str
    started_at: float  # epoch seconds
    duration_ms: int
    failed: bool


SlowJobCallback = Callable[[SlowJob], None]


class SlowJobs(Middleware):
    """Report jobs that run longer than ``threshold_ms`` to ``on_slow`` (which records them).

    This only observes; Dramatiq's ``TimeLimit`` stops runaway jobs. A job the time limit
    stops is still reported, as failed.
    """

    def __init__(
        self,
        threshold_ms: int,
        on_slow: Callable[[SlowJob], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.threshold_ms = threshold_ms
        self.on_slow = on_slow
        self._clock = clock
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = self._clock()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = self._started.pop(message.message_id, None)
        if started is None:
            return
        duration_ms = int((self._clock() - started) * 1000)
        if duration_ms <= self.threshold_ms:
            return
        slow = SlowJob(
            message.message_id,
            message.actor_name,
            q_name(message.queue_name),
            started,
            duration_ms,
            exception is not None,
        )
        try:
            self.on_slow(slow)
        except Exception:  # recording must never fail the job it observes
            log.exception("could not record slow job %s", slow)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.pop(message.message_id, None)


class ProcessedCounter(Middleware):
    """Count processed jobs per queue and second in Redis, so ``shop queue health`` can show
    every worker's processing rate. Keys expire after ``keep_s``."""

    def __init__(self, client: redis.Redis, *, prefix: str = "queues", keep_s: int = 3600) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = keep_s

    def key(self, queue: str, second: int) -> str:
        return f"{self.prefix}:processed:{queue}:{second}"

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        key = self.key(q_name(message.queue_name), int(time.time()))
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.keep_s)
            pipe.execute()
        except redis.RedisError as exc:
            log.debug("processed counter not updated: %s", exc)


class FailureReasons(Middleware):
    """Remember why a job died: Dramatiq's Redis dead-letter set keeps the job's body as last
    enqueued, not the error of its last attempt. Added *before* ``Retries`` (Dramatiq runs
    after-hooks in reverse order, and Retries marks the message failed when its retries are
    spent), it stores ``"<Type>: <message>"`` under the
    message id for as long as the broker keeps dead letters; :class:`DeadLetters` reads it."""

    def __init__(self, client: redis.Redis, *, prefix: str = "queues", keep_ms: int) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_ms = keep_ms

    def key(self, message_id: str) -> str:
        return failure_reason_key(self.prefix, message_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed:
            return
        reason = f"{type(exception).__name__}: {exception}"[:2000]
        try:
            self.client.set(self.key(message.message_id), reason, px=self.keep_ms)
        except redis.RedisError as exc:
            log.warning("reason of dead job %s not kept: %s", message.message_id, exc)


def failure_reason_key(prefix: str, message_id: str) -> str:
    return f"{prefix}:dead:reason:{message_id}"
