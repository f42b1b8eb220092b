"""Random sequences of shop operations against the real service and database (Hypothesis
stateful testing): no illegal order state is ever stored, refused operations change nothing,
and stock is conserved."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import create_engine, func, select

from resilience.errors import IllegalTransition, InsufficientStock, InvalidRefund, OrderLocked
from resilience.shop.db import make_sessionmaker
from resilience.shop.models import Base, Order, OrderLine, Product, StockAdjustment
from resilience.shop.orders import TRANSITIONS, OrderEvent, OrderStatus
from resilience.shop.schemas import (
    OrderIn,
    OrderLineIn,
    PaymentIn,
    ProductIn,
    RefundIn,
    StockAdjustmentIn,
)
from resilience.shop.service import ShopService

RESERVING = {s.value for s in OrderStatus} - {OrderStatus.FAILED.value}


class RecordingDispatcher:
    def __init__(self) -> None:
        self.fulfil_requests: list[int] = []

    def fulfil_order(self, order_id: int) -> None:
        self.fulfil_requests.append(order_id)


class ShopMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="cg-stateful-"))
        self.engine = create_engine(f"sqlite:///{self.dir / 'shop.db'}")
        Base.metadata.create_all(self.engine)
        self.dispatcher = RecordingDispatcher()
        self.sessions = make_sessionmaker(self.engine)
        self.service = ShopService(self.sessions, self.dispatcher)
        self.expected: dict[int, OrderStatus] = {}
        self.initial_stock = 0

    @initialize()
    def products(self) -> None:
        for sku, stock in (("A", 5), ("B", 3)):
            self.service.create_product(ProductIn(sku=sku, name=sku, price_cents=700, stock=stock))
            self.initial_stock += stock

    def _expect(self, order_id: int, event: OrderEvent) -> OrderStatus | None:
        return TRANSITIONS.get((self.expected[order_id], event))

    @rule(target=orders, product=st.sampled_from([1, 2]), quantity=st.integers(1, 4))
    def create_order(self, product: int, quantity: int) -> int:
        try:
            order, created = self.service.create_order(
                OrderIn(lines=[OrderLineIn(product_id=product, quantity=quantity)])
            )
        except InsufficientStock:
            return -1
        assert created and order.status is OrderStatus.PENDING
        self.expected[order.id] = OrderStatus.PENDING
        return order.id

    @rule(order=orders, succeeded=st.booleans())
    def pay(self, order: int, succeeded: bool) -> None:
        if order < 0:
            return
        event = OrderEvent.PAYMENT_SUCCEEDED if succeeded else OrderEvent.PAYMENT_FAILED
        want = self._expect(order, event)
        data = PaymentIn(provider="stripe", method="card", succeeded=succeeded)
        if want is None:
            try:
                self.service.record_payment(order, data)
            except IllegalTransition:
                return
            raise AssertionError("an illegal payment was accepted")
        assert self.service.record_payment(order, data).status is want
        self.expected[order] = want

    @rule(order=orders)
    def fulfil(self, order: int) -> None:
        if order < 0:
            return
        if self.expected[order] is OrderStatus.FULFILLED:
            assert self.service.fulfil_order(order).status is OrderStatus.FULFILLED  # idempotent
            return
        want = self._expect(order, OrderEvent.FULFIL)
        if want is None:
            try:
                self.service.fulfil_order(order)
            except IllegalTransition:
                return
            raise AssertionError("an illegal fulfilment was accepted")
        assert self.service.fulfil_order(order).status is want
        self.expected[order] = want

    @rule(order=orders, amount=st.one_of(st.none(), st.integers(1, 3000)))
    def refund(self, order: int, amount: int | None) -> None:
        if order < 0:
            return
        current = self.service.get_order(order)
        refundable = current.total_cents - current.refunded_cents
        wanted = refundable if amount is None else amount
        event = OrderEvent.REFUND_FULL if wanted >= refundable else OrderEvent.REFUND_PARTIAL
        want = self._expect(order, event)
        try:
            after = self.service.refund(order, RefundIn(amount_cents=amount, reason="test"))
        except (IllegalTransition, InvalidRefund) as exc:
            assert want is None or (isinstance(exc, InvalidRefund) and wanted > refundable)
            assert self.service.get_order(order) == current  # nothing changed
            return
        assert want is not None and wanted <= refundable
        assert after.status is want
        assert after.refunded_cents == current.refunded_cents + wanted
        self.expected[order] = want

    @rule(order=orders)
    def change_method(self, order: int) -> None:
        if order < 0:
            return
        try:
            self.service.change_payment_method(order, "paypal")
        except OrderLocked:
            assert self.expected[order] is not OrderStatus.PENDING
            return
        assert self.expected[order] is OrderStatus.PENDING

    @rule(product=st.sampled_from([1, 2]), delta=st.integers(-6, 6).filter(bool))
    def adjust(self, product: int, delta: int) -> None:
        try:
            self.service.adjust_stock(product, StockAdjustmentIn(delta=delta, reason="count"))
        except InsufficientStock:
            assert self.service.get_product(product).stock + delta < 0

    @invariant()
    def stored_statuses_match_the_model(self) -> None:
        with self.sessions() as s:
            stored = {row.id: row.status for row in s.execute(select(Order.id, Order.status))}
        assert stored == {k: v.value for k, v in self.expected.items()}

    @invariant()
    def stock_is_conserved(self) -> None:
        with self.sessions() as s:
            on_shelf = s.scalar(select(func.sum(Product.stock))) or 0
            reserved = (
                s.scalar(
                    select(func.sum(OrderLine.quantity))
                    .join(Order)
                    .where(Order.status.in_(RESERVING))
                )
                or 0
            )
            adjusted = s.scalar(select(func.sum(StockAdjustment.delta))) or 0
            negative = s.scalar(select(func.count()).where(Product.stock < 0))
        assert negative == 0
        if self.initial_stock:
            assert on_shelf + reserved == self.initial_stock + adjusted

    @invariant()
    def every_paid_order_was_dispatched_once(self) -> None:
        paid_ever = [
            o
            for o in self.expected
            if self.expected[o] is not OrderStatus.PENDING
            and self.expected[o] is not OrderStatus.FAILED
        ]
        assert sorted(self.dispatcher.fulfil_requests) == sorted(paid_ever)

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)


ShopMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestShopStateMachine = ShopMachine.TestCase
