"""Webhook counters shared by every process (API and workers), and the dedup hit rate.

Counters live in a :class:`CounterStore`: Redis in production, so ``/metrics`` on any API process
shows what the workers did too; memory in unit tests. Each count also lands in a time bucket so
rates over a sliding window (the dedup hit rate the webhook-loop runbook reads) can be computed.

Counting is off the request path: :class:`WebhookMetrics` adds to an in-process buffer that a
background thread flushes every ``flush_interval_s`` in one round trip (reads in the same process
flush first, so they see their own counts; other processes see them within one interval).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "COUNTERS",
    "CounterStore",
    "MemoryCounterStore",
    "RedisCounterStore",
    "WebhookMetrics",
]

#: counter name -> help text. ``rejected`` carries a ``reason`` label, the others only provider.
COUNTERS = {
    "received": "deliveries received (before any check)",
    "verified": "deliveries whose signature checked out",
    "rejected": "deliveries refused, by reason",
    "duplicates": "verified deliveries that were duplicates, by dedup layer",
    "accepted": "events stored in the inbox",
    "processed": "events applied by a worker",
    "ignored": "events of a type with no effect",
    "failed": "processing attempts that failed (and will be retried)",
    "dead_lettered": "events moved to webhook_failures after their last attempt",
    "replayed": "dead letters sent back for processing",
}

Key = tuple[str, str, str]  # (counter, provider, reason)
Counts = Mapping[tuple[Key, int], int]  # (key, time bucket) -> amount


class CounterStore(Protocol):
    def add(self, counts: Counts) -> None:
        """Add each amount to its key's total and to its count in its time bucket."""

    def totals(self) -> dict[Key, int]:
        """Every counter's total since the store began."""
        ...

    def window(self, buckets: range) -> dict[Key, int]:
        """Counts summed over the time buckets in ``buckets``."""
        ...


def _field(key: Key) -> str:
    return "|".join(key)


def _unfield(field: bytes | str) -> Key:
    text = field.decode() if isinstance(field, bytes) else field
    name, provider, reason = text.split("|", 2)
    return name, provider, reason


class MemoryCounterStore:  # pragma: no mutate block (a unit tests' store; the shop uses Redis)
    def __init__(self) -> None:
        self._totals: dict[Key, int] = defaultdict(int)
        self._buckets: dict[int, dict[Key, int]] = defaultdict(lambda: defaultdict(int))
        self._lock = threading.Lock()

    def add(self, counts: Counts) -> None:
        with self._lock:
            for (key, bucket), n in counts.items():
                self._totals[key] += n
                self._buckets[bucket][key] += n

    def totals(self) -> dict[Key, int]:
        with self._lock:
            return dict(self._totals)

    def window(self, buckets: range) -> dict[Key, int]:
        summed: dict[Key, int] = defaultdict(int)
        with self._lock:
            for b in buckets:
                for key, n in self._buckets.get(b, {}).items():
                    summed[key] += n
        return dict(summed)


class RedisCounterStore:
    """Totals in one hash; each bucket in a hash that expires after ``retain_s``."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "webhooks:metrics:", retain_s: float = 7200
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._retain_s = max(1, math.ceil(retain_s))

    def add(self, counts: Counts) -> None:
        if not counts:
            return
        with self._client.pipeline(transaction=False) as pipe:
            for (key, bucket), n in counts.items():
                bucket_key = f"{self._prefix}bucket:{bucket}"
                pipe.hincrby(f"{self._prefix}totals", _field(key), n)
                pipe.hincrby(bucket_key, _field(key), n)
                pipe.expire(bucket_key, self._retain_s)
            pipe.execute()

    def totals(self) -> dict[Key, int]:
        raw = self._client.hgetall(f"{self._prefix}totals")
        return {_unfield(f): int(v) for f, v in raw.items()}

    def window(self, buckets: range) -> dict[Key, int]:
        with self._client.pipeline(transaction=False) as pipe:
            for b in buckets:
                pipe.hgetall(f"{self._prefix}bucket:{b}")
            results = pipe.execute()
        summed: dict[Key, int] = defaultdict(int)
        for raw in results:
            for f, v in raw.items():
                summed[_unfield(f)] += int(v)
        return dict(summed)


class WebhookMetrics:
    """Count webhook events and compute rates over a sliding window.

    Parameters:
        store: where counts live.
        bucket_s: width of one time bucket; rates are exact to one bucket.
        flush_interval_s: how often buffered counts go to the store; 0 writes each count at once.
        clock: current Unix time.
        on_error: called when the store fails (the counts stay buffered for the next flush);
            without it, a failing store raises from :meth:`count`/:meth:`flush`.
    """

    def __init__(
        self,
        store: CounterStore,
        *,
        bucket_s: float = 60.0,
        flush_interval_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s={bucket_s!r}: must be positive")
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s={flush_interval_s!r}: must be 0 or more")
        self._store = store
        self._bucket_s = bucket_s
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._on_error = on_error
        self._pending: dict[tuple[Key, int], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def count(self, name: str, provider: str, reason: str = "") -> None:
        if name not in COUNTERS:
            raise ValueError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}")
        bucket = int(self._clock() // self._bucket_s)
        with self._lock:
            self._pending[((name, provider, reason), bucket)] += 1
        if self._flush_interval_s == 0:
            self.flush()
        elif self._flusher is None:
            self._start_flusher()

    def flush(self) -> None:
        """Send buffered counts to the store now."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(int)
        if not pending:
            return
        try:
            self._store.add(pending)
        except (redis.RedisError, OSError) as exc:
            with self._lock:  # keep them for the next flush
                for item, n in pending.items():
                    self._pending[item] += n
            if self._on_error is None:
                raise
            self._on_error(exc)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_forever, name="webhook-metrics", daemon=True
            )
        self._flusher.start()

    def _flush_forever(self) -> None:
        while not self._stop.wait(self._flush_interval_s):
            self.flush()

    def close(self) -> None:
        """Stop the flusher and flush what is left."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()

    def totals(self) -> dict[Key, int]:
        self.flush()
        return self._store.totals()

    def in_window(self, window_s: float) -> dict[Key, int]:
        self.flush()
        last = int(self._clock() // self._bucket_s)
        first = int((self._clock() - window_s) // self._bucket_s) + 1
        return self._store.window(range(first, last + 1))

    def dedup_hit_rate(self, window_s: float, provider: str | None = None) -> float | None:
        """Duplicates caught by the anti-loop cache / verified deliveries, over the last
        ``window_s``; ``None`` when nothing was verified in the window."""
        counts = self.in_window(window_s)
        hits = sum(
            n
            for (name, prov, reason), n in counts.items()
            if name == "duplicates" and reason == "cache" and provider in (None, prov)
        )
        seen = sum(
            n
            for (name, prov, _), n in counts.items()
            if name == "verified" and provider in (None, prov)
        )
        return hits / seen if seen else None

    def render_prometheus(self, *, window_s: float) -> bytes:
        """Prometheus text exposition of every counter and the dedup hit rate."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self, window_s))
        return generate_latest(registry)


class _Collector(Collector):
    def __init__(self, metrics: WebhookMetrics, window_s: float) -> None:
        self._metrics = metrics
        self._window_s = window_s

    def collect(self) -> Iterator[Metric]:
        totals = self._metrics.totals()
        for name, help_text in COUNTERS.items():
            labels = ["provider", "reason"] if name in {"rejected", "duplicates"} else ["provider"]
            family = CounterMetricFamily(f"webhooks_{name}", help_text, labels=labels)
            for (counter, provider, reason), value in sorted(totals.items()):
                if counter == name:
                    family.add_metric([provider, reason][: len(labels)], value)
            yield family
        rate = GaugeMetricFamily(
            "webhooks_dedup_hit_rate",
            f"anti-loop cache hits / verified deliveries over the last {self._window_s:g} s",
            labels=["provider"],
        )
        providers = sorted({p for (_, p, _) in totals})
        for provider in providers:
            hit_rate = self._metrics.dedup_hit_rate(self._window_s, provider)
            if hit_rate is not None:
                rate.add_metric([provider], hit_rate)
        yield rate
