"""Dedup layer 1: an anti-loop cache of recently seen deliveries.

A provider that redelivers the very same signed request (a retry loop, a proxy replaying) is
stopped here, before the database. The algorithm is one call, :meth:`SeenStore.first_sighting`,
split from its storage so the in-memory backend (unit tests) and the Redis backend (production,
shared by every API process) pass one test suite.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

__all__ = ["MemorySeenStore", "RedisSeenStore", "SeenStore", "delivery_fingerprint"]


def delivery_fingerprint(provider: str, delivery_key: str) -> str:
    """A fixed-size key for one delivery (signature and timestamp), safe to store."""
    return hashlib.sha256(f"{provider}|{delivery_key}".encode()).hexdigest()


class SeenStore(Protocol):
    def first_sighting(self, fingerprint: str, ttl_s: float) -> bool:
        """Record ``fingerprint`` for ``ttl_s``; True if it was not already recorded."""
        ...


class MemorySeenStore:
    """In-process store for unit tests; ``clock`` is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_sighting(self, fingerprint: str, ttl_s: float) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._expiry) > 10_000:
                self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            if self._expiry.get(fingerprint, 0.0) > now:
                return False
            self._expiry[fingerprint] = now + ttl_s
            return True


class RedisSeenStore:
    """``SET key 1 NX PX ttl``: atomic across every process that shares the Redis."""

    def __init__(self, client: redis.Redis, *, prefix: str = "webhooks:seen:") -> None:
        self._client = client
        self._prefix = prefix

    def first_sighting(self, fingerprint: str, ttl_s: float) -> bool:
        ttl_ms = max(1, round(ttl_s * 1000))
        return bool(self._client.set(self._prefix + fingerprint, b"1", nx=True, px=ttl_ms))
