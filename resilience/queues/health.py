"""Queue health read straight from the Redis that Dramatiq uses, so any process (the CLI, the
API's backpressure) sees every worker's queues.

Dramatiq's Redis layout: ``<ns>:<q>`` (ready ids, a list), ``<ns>:<q>.msgs`` (bodies),
``<ns>:<q>.DQ`` (delayed), ``<ns>:<q>.XQ`` (dead, a sorted set by time),
``<ns>:__acks__.<worker>.<q>`` (taken by a worker, not yet acknowledged; workers are listed in
``<ns>:__heartbeats__``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import redis

__all__ = ["HealthStatus", "QueueHealth", "QueueStats", "health_status"]

HealthStatus = Literal["OK", "WARN", "CRITICAL"]


def health_status(depth: int, *, warn: int, critical: int) -> HealthStatus:
    """``OK`` up to ``warn``, ``WARN`` above it, ``CRITICAL`` above ``critical``."""
    if depth > critical:
        return "CRITICAL"
    if depth > warn:
        return "WARN"
    return "OK"


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int
    delayed: int
    in_flight: int
    dead: int
    oldest_age_s: float | None
    processed_per_min: float
    status: HealthStatus

    @property
    def depth(self) -> int:
        """Jobs waiting: ready, delayed (throttled or retrying) and taken but unfinished."""
        return self.ready + self.delayed + self.in_flight

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "depth": self.depth}


class QueueHealth:
    """Per-queue counts and status.

    Parameters:
        client: Redis (the broker's).
        namespace: Dramatiq's key namespace.
        warn, critical: depth thresholds.
        rate_window_s: the processing rate is averaged over this many seconds.
        counter_prefix: where :class:`~resilience.queues.middleware.ProcessedCounter` counts.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = "dramatiq",
        warn: int = 1000,
        critical: int = 2000,
        rate_window_s: int = 60,
        counter_prefix: str = "queues",
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.warn = warn
        self.critical = critical
        self.rate_window_s = rate_window_s
        self.counter_prefix = counter_prefix

    def depth(self, queue: str) -> int:
        """Ready + delayed + in flight, in two round trips (the backpressure check)."""
        return sum(self._counts(queue)[:3])

    def _counts(self, queue: str) -> tuple[int, int, int, int]:
        ns = self.namespace
        # Workers announce themselves in the heartbeat set; each keeps the ids it has taken
        # (to run, or delayed ones waiting for their eta) in its own acks set per queue.
        members: list[Any] = list(self.client.zrange(f"{ns}:__heartbeats__", 0, -1))
        workers = [w.decode() if isinstance(w, bytes) else str(w) for w in members]
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(f"{ns}:{queue}")
        pipe.llen(f"{ns}:{queue}.DQ")
        pipe.zcard(f"{ns}:{queue}.XQ")
        for worker in workers:
            pipe.scard(f"{ns}:__acks__.{worker}.{queue}")
            pipe.scard(f"{ns}:__acks__.{worker}.{queue}.DQ")
        ready, delayed, dead, *acks = pipe.execute()
        in_flight = sum(acks[0::2])
        delayed += sum(acks[1::2])  # prefetched by a worker, waiting for their eta
        return int(ready), int(delayed), int(in_flight), int(dead)

    def stats(self, queue: str) -> QueueStats:
        ready, delayed, in_flight, dead = self._counts(queue)
        return QueueStats(
            queue,
            ready,
            delayed,
            in_flight,
            dead,
            self._oldest_age_s(queue),
            self._rate_per_min(queue),
            health_status(ready + delayed + in_flight, warn=self.warn, critical=self.critical),
        )

    def _oldest_age_s(self, queue: str) -> float | None:
        ns = self.namespace
        oldest: float | None = None
        for name in (queue, f"{queue}.DQ"):
            message_id = self.client.lindex(f"{ns}:{name}", 0)
            if message_id is None:
                continue
            body = self.client.hget(f"{ns}:{name}.msgs", message_id)
            if body is None:
                continue
            try:
                stamp = float(json.loads(body)["message_timestamp"]) / 1000
            except (ValueError, KeyError, TypeError):
                continue
            oldest = stamp if oldest is None else min(oldest, stamp)
        return None if oldest is None else round(max(0.0, time.time() - oldest), 3)

    def _rate_per_min(self, queue: str) -> float:
        now = int(time.time())
        keys = [
            f"{self.counter_prefix}:processed:{queue}:{s}"
            for s in range(now - self.rate_window_s + 1, now + 1)
        ]
        counts = self.client.mget(keys) if keys else []
        total = sum(int(c) for c in counts if c is not None)
        return round(total * 60 / self.rate_window_s, 2)
