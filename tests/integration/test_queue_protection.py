"""Queue protection against a real Redis and real Dramatiq workers: the sliding window's
accuracy, throttling that never spends retries, backpressure's hysteresis, health thresholds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from resilience.queues import (
    Backpressure,
    QueueHealth,
    SlidingWindowLimiter,
    Throttle,
    health_status,
)
from resilience.queues.middleware import ProcessedCounter, SlowJob, SlowJobs


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_no_window_ever_admits_more_than_the_limit(client: redis.Redis) -> None:
    """Four threads hammer a 20-per-500-ms limiter for 1.6 s. Every 500 ms span, wherever it
    starts, holds at most 20 admissions (a fixed bucket would allow 40 across a boundary), and
    the limiter admits close to its rate (it does not refuse more than it must)."""
    limiter = SlidingWindowLimiter(client, "t:limit", limit=20, window_ms=500)
    admitted: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + 1.6

    def hammer() -> None:
        while time.monotonic() < stop:
            answer = limiter.acquire()
            if answer.allowed:
                with lock:
                    admitted.append(answer.at_ms)  # Redis's clock, the one that decides

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted.sort()
    worst = max(sum(1 for t in admitted if start <= t < start + 500) for start in admitted)
    assert worst <= 20
    assert len(admitted) >= 60  # 1.6 s at 20 per 0.5 s is 64, minus the edge of the last window


def test_a_refusal_says_when_to_come_back(client: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(client, "t:limit", limit=2, window_ms=400)
    assert limiter.acquire().allowed and limiter.acquire().allowed
    refused = limiter.acquire()
    assert not refused.allowed and 0 < refused.retry_after_ms <= 401
    time.sleep(refused.retry_after_ms / 1000 + 0.02)
    assert limiter.acquire().allowed


def test_bad_limits_are_refused_by_name(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="limit=0"):
        SlidingWindowLimiter(client, "k", limit=0, window_ms=10)
    with pytest.raises(ValueError, match="window_ms=0"):
        SlidingWindowLimiter(client, "k", limit=1, window_ms=0)


def make_broker(redis_url: str) -> RedisBroker:
    broker = RedisBroker(url=redis_url)  # type: ignore[no-untyped-call]
    broker.emit_after("process_boot")
    return broker


def test_throttled_jobs_are_delayed_not_retried_and_critical_jobs_are_not_throttled(
    redis_url: str, client: redis.Redis
) -> None:
    """Twelve jobs on a queue limited to 4 per second, and a critical job sent last: all run,
    at no more than 4 per second; the throttled ones were delayed without spending a retry
    (max_retries=0 would have dropped them); the critical job ran at once."""
    broker = make_broker(redis_url)
    limiter = SlidingWindowLimiter(client, "t:orders", limit=4, window_ms=1000)
    broker.add_middleware(Throttle({"orders": limiter}, jitter_ms=20), before=Retries)
    ran: dict[str, list[float]] = {"orders": [], "critical": []}
    retries: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="orders", max_retries=0)
    def order_job(n: int) -> None:
        ran["orders"].append(time.monotonic())
        retries.append(
            dramatiq.middleware.CurrentMessage.get_current_message().options.get("retries", 0)
        )  # type: ignore[union-attr]

    @dramatiq.actor(broker=broker, queue_name="critical", max_retries=0)
    def payment_job() -> None:
        ran["critical"].append(time.monotonic())

    broker.add_middleware(dramatiq.middleware.CurrentMessage())
    for n in range(12):
        order_job.send(n)
    sent = time.monotonic()
    payment_job.send()
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=50)
    worker.start()
    try:
        deadline = time.monotonic() + 15
        while len(ran["orders"]) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        broker.close()
    assert len(ran["orders"]) == 12
    assert retries == [0] * 12
    times = sorted(ran["orders"])
    assert max(sum(1 for t in times if s <= t < s + 0.99) for s in times) <= 4
    assert times[-1] - times[0] >= 2.0  # 12 jobs at 4 per second need three windows
    assert ran["critical"] and ran["critical"][0] - sent < 1.0


def test_slow_jobs_are_reported_with_their_duration(redis_url: str) -> None:
    broker = make_broker(redis_url)
    slow: list[SlowJob] = []
    broker.add_middleware(SlowJobs(200, slow.append))

    @dramatiq.actor(broker=broker, queue_name="erp")
    def sync(seconds: float) -> None:
        time.sleep(seconds)

    sync.send(0.0)
    sync.send(0.4)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not slow and time.monotonic() < deadline:
            time.sleep(0.05)
        broker.join("erp", timeout=10_000)
    finally:
        worker.stop()
        broker.close()
    assert [(s.actor_name, s.queue_name, s.failed) for s in slow] == [("sync", "erp", False)]
    assert 400 <= slow[0].duration_ms < 2000


def test_backpressure_closes_above_high_and_opens_only_at_low(client: redis.Redis) -> None:
    depth = [0]
    gate = Backpressure(client, lambda: depth[0], queue="orders", high=10, low=4, retry_after_s=7)
    other_api = Backpressure(
        client, lambda: depth[0], queue="orders", high=10, low=4, retry_after_s=7
    )
    seen = []
    for d in [5, 10, 11, 9, 6, 5, 4, 5, 10, 11]:
        depth[0] = d
        seen.append(gate.admit().admitted)
    assert seen == [True, True, False, False, False, False, True, True, True, False]
    assert other_api.admit().admitted is False  # the state is shared through Redis
    refused = gate.admit()
    assert (refused.depth, refused.retry_after_s) == (11, 7)
    with pytest.raises(ValueError, match="low=5 high=5"):
        Backpressure(client, lambda: 0, queue="q", high=5, low=5, retry_after_s=1)


def test_queue_health_counts_ready_delayed_dead_and_rate(
    redis_url: str, client: redis.Redis
) -> None:
    broker = make_broker(redis_url)
    broker.add_middleware(ProcessedCounter(client))

    @dramatiq.actor(broker=broker, queue_name="orders", max_retries=0)
    def job(fail: bool) -> None:
        if fail:
            raise RuntimeError("boom")

    for _ in range(3):
        job.send(False)
    job.send_with_options(args=(False,), delay=60_000)
    health = QueueHealth(client, warn=3, critical=5)
    before = health.stats("orders")
    assert (before.ready, before.delayed, before.dead) == (3, 1, 0)
    assert before.status == "WARN" and before.depth == 4  # 3 ready + 1 delayed > warn
    assert before.oldest_age_s is not None and before.oldest_age_s < 30
    job.send(True)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        after = health.stats("orders")
        while (after.dead, after.ready, after.in_flight) != (1, 0, 0) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
            after = health.stats("orders")
    finally:
        worker.stop()
        broker.close()
    assert (after.ready, after.in_flight, after.dead, after.delayed) == (0, 0, 1, 1)
    assert after.processed_per_min >= 4  # 4 processed (3 + the failed one) in the last minute


def test_health_thresholds() -> None:
    assert health_status(1000, warn=1000, critical=2000) == "OK"
    assert health_status(1001, warn=1000, critical=2000) == "WARN"
    assert health_status(2001, warn=1000, critical=2000) == "CRITICAL"
