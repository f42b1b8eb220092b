"""Queue protection on Dramatiq + Redis: a global sliding-window rate limit per queue, slow-job
detection, queue health and backpressure. Every window, limit and threshold is configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience.lazy import lazy_attributes

if TYPE_CHECKING:
    from resilience.queues.backpressure import Admission, Backpressure
    from resilience.queues.health import QueueHealth, QueueStats, health_status
    from resilience.queues.limiter import Acquired, SlidingWindowLimiter
    from resilience.queues.middleware import Throttle

__all__ = [
    "Acquired",
    "Admission",
    "Backpressure",
    "QueueHealth",
    "QueueStats",
    "SlidingWindowLimiter",
    "Throttle",
    "health_status",
]

# Imported on first use: the middleware pulls in Dramatiq, which the queue tables (imported
# with every model of the shop) do not need.
_HOMES = {
    "Acquired": "resilience.queues.limiter",
    "Admission": "resilience.queues.backpressure",
    "Backpressure": "resilience.queues.backpressure",
    "QueueHealth": "resilience.queues.health",
    "QueueStats": "resilience.queues.health",
    "SlidingWindowLimiter": "resilience.queues.limiter",
    "Throttle": "resilience.queues.middleware",
    "health_status": "resilience.queues.health",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
