"""Queue protection on Dramatiq + Redis: a global sliding-window rate limit per queue, slow-job
detection, queue health and backpressure. Every window, limit and threshold is configuration."""

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
