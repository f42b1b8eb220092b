"""Two workers applying one provider payment at the same instant record it once, on SQLite (the
embedded default, where ``SELECT ... FOR UPDATE`` is a no-op) and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from resilience.audit.models import AuditLog
from resilience.shop import ShopContext, ShopSettings, migrate
from resilience.shop.models import Payment
from resilience.shop.schemas import OrderIn, OrderLineIn, PaymentIn, ProductIn
from resilience.webhooks.dedup import MemorySeenStore
from resilience.webhooks.metrics import MemoryCounterStore

ROUNDS = 12  # each round is one order paid by two racing threads


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def ctx(request: pytest.FixtureRequest) -> Iterator[ShopContext]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    settings = ShopSettings(database_url=url, admin_token="t", audit_hmac_key="k")
    migrate.upgrade(url)
    context = ShopContext.from_settings(
        settings, broker=StubBroker(), seen=MemorySeenStore(), counters=MemoryCounterStore()
    )
    try:
        yield context
    finally:
        context.close()


def test_one_capture_applied_by_two_workers_at_once_is_one_payment(ctx: ShopContext) -> None:
    service = ctx.service
    product = service.create_product(ProductIn(sku="RACE", name="Lamp", price_cents=999, stock=99))
    errors: list[BaseException] = []
    orders = []
    for n in range(ROUNDS):
        order, _ = service.create_order(
            OrderIn(lines=[OrderLineIn(product_id=product.id, quantity=1)])
        )
        orders.append(order.id)
        start = threading.Barrier(2)
        payment = PaymentIn(
            provider="paypal", method="paypal", succeeded=True, provider_ref=f"CAP-{n}"
        )

        def apply(
            order_id: int = order.id, data: PaymentIn = payment, start: threading.Barrier = start
        ) -> None:
            start.wait()
            try:
                service.apply_provider_payment(order_id, data)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=apply) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []  # neither worker failed: the second saw the payment applied
    with ctx.sessions() as s:
        for order_id in orders:
            payments = s.scalar(select(func.count()).where(Payment.order_id == order_id))
            audited = s.scalar(
                select(func.count()).where(
                    AuditLog.entity_type == "Order",
                    AuditLog.entity_id == str(order_id),
                    AuditLog.action.like("%payment%"),
                )
            )
            assert (order_id, payments, audited) == (order_id, 1, 1)
