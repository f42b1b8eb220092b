"""A payment whose fulfilment job cannot be enqueued is not lost: the sweep enqueues it later."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from resilience.errors import DispatchFailed
from resilience.shop.db import make_sessionmaker
from resilience.shop.models import Base
from resilience.shop.orders import OrderStatus
from resilience.shop.schemas import OrderIn, OrderLineIn, PaymentIn, ProductIn
from resilience.shop.service import ShopService
from resilience.shop.sweeper import Sweep, Sweeper


class FlakyDispatcher:
    def __init__(self) -> None:
        self.down = True
        self.sent: list[int] = []

    def fulfil_order(self, order_id: int) -> None:
        if self.down:
            raise DispatchFailed("process_order", order_id, "ConnectionError: refused")
        self.sent.append(order_id)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def parts(sqlite_url: str) -> tuple[ShopService, FlakyDispatcher, Clock]:
    engine = create_engine(sqlite_url)
    Base.metadata.create_all(engine)
    dispatcher, clock = FlakyDispatcher(), Clock()
    service = ShopService(make_sessionmaker(engine), dispatcher, clock=clock)
    service.create_product(ProductIn(sku="P", name="P", price_cents=100, stock=10))
    return service, dispatcher, clock


def paid_order(service: ShopService) -> int:
    order, _ = service.create_order(OrderIn(lines=[OrderLineIn(product_id=1, quantity=1)]))
    paid = service.record_payment(
        order.id, PaymentIn(provider="stripe", method="card", succeeded=True)
    )
    assert paid.status is OrderStatus.PAID
    return order.id


def test_payment_is_kept_when_the_broker_is_down(
    parts: tuple[ShopService, FlakyDispatcher, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    service, dispatcher, clock = parts
    with caplog.at_level(logging.WARNING):
        order_id = paid_order(service)
    assert "stays paid until the fulfilment sweep" in caplog.text
    assert dispatcher.sent == []

    # Too recent to sweep, and the broker is still down: nothing is enqueued.
    assert service.requeue_unfulfilled(paid_before=timedelta(seconds=60)) == []
    clock.now += timedelta(seconds=61)
    assert service.requeue_unfulfilled(paid_before=timedelta(seconds=60)) == []

    dispatcher.down = False
    assert service.requeue_unfulfilled(paid_before=timedelta(seconds=60)) == [order_id]
    service.fulfil_order(order_id)
    assert service.requeue_unfulfilled(paid_before=timedelta(seconds=60)) == []


def test_sweeper_survives_a_database_outage(caplog: pytest.LogCaptureFixture) -> None:
    broken = ShopService(
        make_sessionmaker(create_engine("sqlite:////nonexistent/dir/shop.db")), FlakyDispatcher()
    )
    with caplog.at_level(logging.WARNING):
        sweep = Sweep("fulfilment", lambda: broken.requeue_unfulfilled(paid_before=timedelta(0)))
        assert Sweeper([sweep], interval_s=1).sweep_once() == {}
    assert "fulfilment sweep skipped: OperationalError" in caplog.text


def test_sweeper_loop_sweeps_until_stopped(
    parts: tuple[ShopService, FlakyDispatcher, Clock],
) -> None:
    service, dispatcher, clock = parts
    order_id = paid_order(service)
    dispatcher.down = False
    clock.now += timedelta(seconds=5)
    sweep = Sweep(
        "fulfilment", lambda: service.requeue_unfulfilled(paid_before=timedelta(seconds=1))
    )
    sweeper = Sweeper([sweep], interval_s=0.01)
    thread = sweeper.start()
    try:
        for _ in range(500):
            if dispatcher.sent:
                break
            sweeper.stop.wait(0.01)
    finally:
        sweeper.stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert dispatcher.sent[0] == order_id
