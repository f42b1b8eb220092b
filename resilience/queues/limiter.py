"""A global rate limit shared by every worker through Redis: at most ``limit`` acquisitions in
any ``window_ms``, measured as a true sliding window.

Each acquisition is a member of a sorted set scored by Redis's own clock (``TIME``), so workers
on machines whose clocks disagree still share one window. A fixed bucket would let ``2 x limit``
through around a bucket boundary; the log of acquisitions cannot. One Lua script does the whole
check-and-add, so concurrent workers never both take the last slot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

__all__ = ["Acquired", "SlidingWindowLimiter"]

_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0, count + 1, now_ms}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now_ms + 1, count, now_ms}
"""


@dataclass(frozen=True)
class Acquired:
    """The answer of :meth:`SlidingWindowLimiter.acquire`."""

    allowed: bool
    #: when refused: milliseconds until the oldest acquisition leaves the window
    retry_after_ms: int
    #: acquisitions in the window, this one included when allowed
    in_window: int
    #: when it was decided, by Redis's clock (epoch milliseconds)
    at_ms: int


class SlidingWindowLimiter:
    """At most ``limit`` acquisitions per ``window_ms`` under ``key``, for all processes.

    Parameters:
        client: a Redis client.
        key: the sorted set that holds the window (one per limited queue).
        limit: acquisitions allowed in any window.
        window_ms: the window's length.
    """

    def __init__(self, client: redis.Redis, key: str, *, limit: int, window_ms: int) -> None:
        if limit < 1:
            raise ValueError(f"limit={limit!r}: must be at least 1")
        if window_ms < 1:
            raise ValueError(f"window_ms={window_ms!r}: must be at least 1")
        self.key = key
        self.limit = limit
        self.window_ms = window_ms
        self._script = client.register_script(_ACQUIRE)

    def acquire(self) -> Acquired:
        """Take one slot if the window has one; raises ``redis.RedisError`` if Redis fails."""
        allowed, wait_ms, count, at_ms = self._script(
            keys=[self.key], args=[self.window_ms, self.limit, uuid.uuid4().hex]
        )
        return Acquired(bool(allowed), int(wait_ms), int(count), int(at_ms))
