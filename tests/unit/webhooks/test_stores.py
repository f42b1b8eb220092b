"""The anti-loop cache and the counters: one suite over the in-memory and the Redis backends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis as redis_lib

from resilience.webhooks.dedup import (
    MemorySeenStore,
    RedisSeenStore,
    SeenStore,
    Sighting,
    delivery_fingerprint,
)
from resilience.webhooks.metrics import (
    CounterStore,
    MemoryCounterStore,
    RedisCounterStore,
    WebhookMetrics,
)

BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.integration)]


@pytest.fixture
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis_lib.Redis]:
    url: str = request.getfixturevalue("redis_url")
    client = redis_lib.Redis.from_url(url)
    yield client
    client.close()


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=BACKENDS)
def seen(request: pytest.FixtureRequest) -> SeenStore:
    if request.param == "memory":
        return MemorySeenStore()
    return RedisSeenStore(request.getfixturevalue("redis_client"))


@pytest.fixture(params=BACKENDS)
def counters(request: pytest.FixtureRequest) -> CounterStore:
    if request.param == "memory":
        return MemoryCounterStore()
    return RedisCounterStore(request.getfixturevalue("redis_client"), retain_s=600)


def test_first_sighting_then_repeat_then_conflict(seen: SeenStore) -> None:
    key = delivery_fingerprint("stripe", "t=1,v1=abc")
    assert seen.sight(key, "body-1", ttl_s=30) is Sighting.FIRST
    assert seen.sight(key, "body-1", ttl_s=30) is Sighting.REPEAT
    assert seen.sight(key, "body-2", ttl_s=30) is Sighting.CONFLICT
    # The first record stands: the crafted body did not replace it.
    assert seen.sight(key, "body-1", ttl_s=30) is Sighting.REPEAT
    assert seen.sight(delivery_fingerprint("paypal", "t=1,v1=abc"), "x", ttl_s=30) is (
        Sighting.FIRST
    )


def test_a_sighting_expires_after_its_ttl(seen: SeenStore) -> None:
    key = delivery_fingerprint("stripe", "t=2,v1=def")
    assert seen.sight(key, "d", ttl_s=0.2) is Sighting.FIRST
    assert seen.sight(key, "d", ttl_s=0.2) is Sighting.REPEAT
    time.sleep(0.3)  # the TTL is the behaviour under test; Redis keeps its own clock
    assert seen.sight(key, "other", ttl_s=0.2) is Sighting.FIRST


def test_memory_store_expiry_on_an_injected_clock() -> None:
    clock = Clock()
    seen = MemorySeenStore(clock)
    assert seen.sight("k", "d", ttl_s=300) is Sighting.FIRST
    clock.t += 299
    assert seen.sight("k", "e", ttl_s=300) is Sighting.CONFLICT
    clock.t += 2
    assert seen.sight("k", "e", ttl_s=300) is Sighting.FIRST


def test_totals_and_windowed_hit_rate(counters: CounterStore) -> None:
    clock = Clock()
    metrics = WebhookMetrics(counters, bucket_s=10, clock=clock)
    for _ in range(4):
        metrics.count("verified", "stripe")
    metrics.count("duplicates", "stripe", "cache")
    metrics.count("duplicates", "stripe", "inbox")  # layer 2 is not a cache hit
    metrics.count("rejected", "paypal", "bad_signature")
    assert metrics.totals()[("verified", "stripe", "")] == 4
    assert metrics.dedup_hit_rate(60, "stripe") == pytest.approx(0.25)
    assert metrics.dedup_hit_rate(60, "paypal") is None

    clock.t += 120  # the window slides past those counts
    metrics.count("verified", "stripe")
    assert metrics.dedup_hit_rate(60, "stripe") == 0.0
    assert metrics.totals()[("verified", "stripe", "")] == 5


def test_prometheus_text(counters: CounterStore) -> None:
    metrics = WebhookMetrics(counters, bucket_s=10, clock=Clock())
    metrics.count("verified", "stripe")
    metrics.count("duplicates", "stripe", "cache")
    metrics.count("rejected", "stripe", "bad_signature")
    text = metrics.render_prometheus(window_s=60).decode()
    assert 'webhooks_verified_total{provider="stripe"} 1.0' in text
    assert 'webhooks_rejected_total{provider="stripe",reason="bad_signature"} 1.0' in text
    assert 'webhooks_dedup_hit_rate{provider="stripe"} 1.0' in text


def test_unknown_counter_names_the_known_ones() -> None:
    metrics = WebhookMetrics(MemoryCounterStore())
    with pytest.raises(ValueError, match="known: received, verified"):
        metrics.count("recieved", "stripe")


def test_a_failing_store_never_breaks_counting_when_told() -> None:
    errors: list[Exception] = []
    broken = RedisCounterStore(redis_lib.Redis(host="127.0.0.1", port=1, socket_timeout=0.2))
    WebhookMetrics(broken, on_error=errors.append).count("received", "stripe")
    assert len(errors) == 1
    broken_client = redis_lib.Redis(host="127.0.0.1", port=1, socket_timeout=0.2)
    with pytest.raises(redis_lib.ConnectionError):
        WebhookMetrics(RedisCounterStore(broken_client)).count("received", "stripe")
    broken_client.close()
