"""Dedup layer 1: an anti-loop cache of recently seen deliveries.

A provider that redelivers the very same signed request (a retry loop, a proxy replaying) is
stopped here, before the database. Each sighting records a digest of the body with the delivery's
key, so a key seen again with *another* body — a genuine delivery's signature replayed over a
crafted body, which PayPal's CRC32-based scheme allows — is told apart from a repeat and refused.

The algorithm is one call, :meth:`SeenStore.sight`, split from its storage so the in-memory
backend (unit tests) and the Redis backend (production, shared by every API process; its script
is package data, ``sight.lua``) pass one test suite.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from importlib import resources
from typing import Protocol

import redis

__all__ = [
    "MemorySeenStore",
    "NoSeenStore",
    "RedisSeenStore",
    "SeenStore",
    "Sighting",
    "body_digest",
    "delivery_fingerprint",
]


class Sighting(StrEnum):
    """What the cache knew of a delivery key."""

    FIRST = "first"  # not seen within the TTL: recorded now
    REPEAT = "repeat"  # seen with the same body: a duplicate
    CONFLICT = "conflict"  # seen with another body: a forgery or a broken sender


def delivery_fingerprint(provider: str, delivery_key: str) -> str:
    """A fixed-size key for one delivery (its provider-level identity), safe to store."""
    return hashlib.sha256(f"{provider}|{delivery_key}".encode()).hexdigest()


def body_digest(body: bytes) -> str:
    """The SHA-256 of a delivery's raw body, as recorded with its key."""
    return hashlib.sha256(body).hexdigest()


class SeenStore(Protocol):
    def sight(self, fingerprint: str, digest: str, ttl_s: float) -> Sighting:
        """Record ``fingerprint`` with the body ``digest`` for ``ttl_s`` unless it is recorded.

        Returns FIRST if it was not recorded, REPEAT if it was with the same digest, CONFLICT if
        it was with another (the first record stands).
        """
        ...


class MemorySeenStore:  # pragma: no mutate block (a unit tests' store; the shop uses Redis)
    """In-process store for unit tests; ``clock`` is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def sight(self, fingerprint: str, digest: str, ttl_s: float) -> Sighting:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            expiry, known = self._seen.get(fingerprint, (0.0, ""))
            if expiry > now:
                return Sighting.REPEAT if known == digest else Sighting.CONFLICT
            self._seen[fingerprint] = (now + ttl_s, digest)
            return Sighting.FIRST


class NoSeenStore:
    """The cache switched off (``SHOP_WEBHOOK_DEDUP_CACHE=false``): every sighting is a first."""

    def sight(self, fingerprint: str, digest: str, ttl_s: float) -> Sighting:
        return Sighting.FIRST


_SIGHT_LUA = resources.files("resilience.webhooks").joinpath("sight.lua").read_text("utf-8")
_ANSWERS = (Sighting.FIRST, Sighting.REPEAT, Sighting.CONFLICT)


class RedisSeenStore:
    """One script (``sight.lua``): atomic across every process that shares the Redis."""

    def __init__(self, client: redis.Redis, *, prefix: str = "webhooks:seen:") -> None:
        self._prefix = prefix
        self._sight = client.register_script(_SIGHT_LUA)

    def sight(self, fingerprint: str, digest: str, ttl_s: float) -> Sighting:
        ttl_ms = max(1, round(ttl_s * 1000))
        answer = self._sight(keys=[self._prefix + fingerprint], args=[digest, ttl_ms])
        return _ANSWERS[int(answer)]
