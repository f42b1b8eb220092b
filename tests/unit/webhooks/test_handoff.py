"""The handoff thread enqueues what request threads submit, survives broker errors, and drains
on close."""

from __future__ import annotations

import threading

import pytest

from resilience.errors import DispatchFailed
from resilience.webhooks.handoff import Handoff
from resilience.webhooks.metrics import MemoryCounterStore, WebhookMetrics
from resilience.webhooks.models import EventRef


def ref(row_id: int) -> EventRef:
    return EventRef(row_id, "stripe", "payment_intent.succeeded")


def test_submitted_ids_are_enqueued_in_order_and_drained_on_close() -> None:
    sent: list[EventRef] = []
    handoff = Handoff(sent.append)
    for i in range(100):
        handoff.submit(ref(i))
    handoff.close()
    assert [r.row_id for r in sent] == list(range(100))


def test_broker_errors_are_logged_and_the_thread_survives(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[int] = []

    def enqueue(r: EventRef) -> None:
        if r.row_id % 2:
            raise DispatchFailed("process_webhook", r.row_id, "ConnectionError: refused")
        sent.append(r.row_id)

    handoff = Handoff(enqueue)
    for i in range(6):
        handoff.submit(ref(i))
    handoff.close()
    assert sent == [0, 2, 4]
    assert caplog.text.count("the sweep will enqueue it") == 3


def test_a_full_buffer_drops_instead_of_blocking_the_request() -> None:
    release = threading.Event()
    handoff = Handoff(lambda _row: release.wait(5), max_pending=2)
    for i in range(10):
        handoff.submit(ref(i))  # never blocks
    assert handoff.dropped >= 7
    release.set()
    handoff.close()


def test_buffered_metrics_flush_in_the_background_and_on_close() -> None:
    store = MemoryCounterStore()
    metrics = WebhookMetrics(store, flush_interval_s=3600)  # the thread would wait an hour
    metrics.count("received", "stripe")
    assert store.totals() == {}  # buffered, not yet sent
    assert metrics.totals()[("received", "stripe", "")] == 1  # a read flushes first
    metrics.count("received", "stripe")
    metrics.close()
    assert store.totals()[("received", "stripe", "")] == 2


def test_counts_survive_a_store_outage() -> None:
    class Flaky(MemoryCounterStore):
        down = True

        def add(self, counts):  # type: ignore[no-untyped-def]
            if self.down:
                raise ConnectionError("redis down")
            super().add(counts)

    store = Flaky()
    errors: list[Exception] = []
    metrics = WebhookMetrics(store, on_error=errors.append)
    metrics.count("received", "stripe")
    metrics.count("received", "stripe")
    assert len(errors) == 2
    store.down = False
    metrics.flush()
    assert store.totals()[("received", "stripe", "")] == 2


def test_flush_waits_until_everything_submitted_is_enqueued() -> None:
    release = threading.Event()
    sent: list[int] = []

    def slow(r: EventRef) -> None:
        release.wait(5)
        sent.append(r.row_id)

    handoff = Handoff(slow)
    handoff.submit(ref(1))
    handoff.submit(ref(2))
    threading.Timer(0.2, release.set).start()
    handoff.flush()
    assert sent == [1, 2]
    handoff.close()
