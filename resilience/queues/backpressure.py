"""Backpressure: refuse new work while a queue is too deep, with hysteresis.

Above ``high`` the gate closes and stays closed until the depth falls to ``low``; the state is
kept in Redis, so every API process opens and closes together. Between the watermarks the gate
keeps its last state: a queue hovering around one threshold does not flap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

__all__ = ["Admission", "Backpressure"]


@dataclass(frozen=True)
class Admission:
    admitted: bool
    depth: int
    #: seconds a refused client should wait (the ``Retry-After`` header)
    retry_after_s: int


class Backpressure:
    """Admit or refuse new work for ``queue`` from its depth.

    Parameters:
        client: Redis, where the gate's state lives.
        depth: returns the queue's current depth.
        queue: names the gate's key.
        high, low: close above ``high``; open again at or below ``low``.
        retry_after_s: what a refused client is told.
    """

    def __init__(
        self,
        client: redis.Redis,
        depth: Callable[[], int],
        *,
        queue: str,
        high: int,
        low: int,
        retry_after_s: int,
        prefix: str = "queues",
    ) -> None:
        if not 0 <= low < high:
            raise ValueError(f"watermarks low={low} high={high}: need 0 <= low < high")
        self.client = client
        self._depth = depth
        self.high = high
        self.low = low
        self.retry_after_s = retry_after_s
        self.key = f"{prefix}:backpressure:{queue}"

    def closed(self) -> bool:
        return bool(self.client.exists(self.key))

    def admit(self) -> Admission:
        depth = self._depth()
        closed = self.closed()
        if not closed and depth > self.high:
            self.client.set(self.key, depth)
            closed = True
        elif closed and depth <= self.low:
            self.client.delete(self.key)
            closed = False
        return Admission(not closed, depth, self.retry_after_s)
