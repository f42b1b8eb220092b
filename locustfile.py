"""Load for the reference shop service, run by chaosgate in its own process (``load:`` steps).

Settings come from the environment the scenario gives:

- ``CG_PRODUCT_ID``: the product to order; ``CG_MAX_QUANTITY``: items per order, drawn 1..N.
- ``CG_RPS_PER_USER``: orders per second per simulated user (users x this = the target rate).
- ``CG_PAY_TOKEN``: when set, each created order is then paid (``POST /orders/{id}/payments``
  with this admin token), which enqueues its fulfilment job: a flood of paid orders floods the
  orders queue.
- ``CG_SEED``: set by chaosgate from the run's seed; every user's data (quantities, idempotency
  keys) is drawn with Faker from it, so the same seed places the same orders.

``ShopAdmin`` (the admin flow) needs ``CG_PRODUCT_ID`` and ``CG_ADMIN_TOKEN``: each user, as
operator ``admin-N``, adjusts stock, pays an order and refunds part of it, and changes the payment
method of a pending order, all critical actions the audit trail must record.

A load step's ``shape`` (stages of users over time) needs nothing here: chaosgate adds its own
shape class next to this file.

Only this file imports Locust: it patches the interpreter with gevent.
"""

from __future__ import annotations

import itertools
import os

from faker import Faker
from locust import HttpUser, constant_throughput, task

_SEED = int(os.environ.get("CG_SEED", "0"))
_users = itertools.count()


class ShopCustomer(HttpUser):
    """Places orders at a constant rate, each with an idempotency key."""

    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "1")))

    def on_start(self) -> None:
        self.fake = Faker()
        self.fake.seed_instance(_SEED * 100_003 + next(_users))
        self.product = int(os.environ.get("CG_PRODUCT_ID", "1"))
        self.max_quantity = int(os.environ.get("CG_MAX_QUANTITY", "1"))
        token = os.environ.get("CG_PAY_TOKEN")
        self.admin = {"Authorization": f"Bearer {token}"} if token else None

    @task
    def place_order(self) -> None:
        quantity = self.fake.random_int(1, self.max_quantity)
        with self.client.post(
            "/orders",
            json={"lines": [{"product_id": self.product, "quantity": quantity}]},
            headers={"Idempotency-Key": self.fake.uuid4()},
            name="POST /orders",
            catch_response=True,
        ) as response:
            # 429 is the shop's backpressure working, not a failure of the load; it must say
            # when to come back.
            if response.status_code == 429 and not response.headers.get("Retry-After"):
                response.failure("429 without Retry-After")
                return
            if response.status_code in (200, 201, 429):
                response.success()
            if response.status_code != 201 or self.admin is None:
                return
            order_id = response.json()["id"]
        self.client.post(
            f"/orders/{order_id}/payments",
            json={
                "provider": "stripe",
                "method": "card",
                "succeeded": True,
                "provider_ref": f"pi_{self.fake.uuid4()}",
            },
            headers=self.admin,
            name="POST /orders/{id}/payments",
        )


class ShopAdmin(HttpUser):
    """Operators at work: stock adjustments, payments, partial refunds, payment-method changes."""

    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "1")))

    def on_start(self) -> None:
        number = next(_users)
        self.fake = Faker()
        self.fake.seed_instance(_SEED * 100_003 + number)
        self.product = int(os.environ.get("CG_PRODUCT_ID", "1"))
        self.admin = {
            "Authorization": f"Bearer {os.environ.get('CG_ADMIN_TOKEN', '')}",
            "X-Actor": f"admin-{number}",
        }

    def _order(self) -> int | None:
        response = self.client.post(
            "/orders",
            json={"lines": [{"product_id": self.product, "quantity": 1}]},
            name="POST /orders",
        )
        return int(response.json()["id"]) if response.status_code == 201 else None

    @task(3)
    def adjust_stock(self) -> None:
        self.client.post(
            f"/admin/products/{self.product}/stock-adjustments",
            json={"delta": self.fake.random_int(1, 5), "reason": "recount"},
            headers=self.admin,
            name="POST /admin/products/{id}/stock-adjustments",
        )

    @task(2)
    def pay_and_refund(self) -> None:
        order = self._order()
        if order is None:
            return
        paid = self.client.post(
            f"/orders/{order}/payments",
            json={"provider": "stripe", "method": "card", "succeeded": True},
            headers=self.admin,
            name="POST /orders/{id}/payments",
        )
        if paid.status_code != 200:
            return
        self.client.post(
            f"/admin/orders/{order}/refunds",
            json={"amount_cents": self.fake.random_int(1, 100), "reason": "goodwill"},
            headers=self.admin,
            name="POST /admin/orders/{id}/refunds",
        )

    @task(1)
    def change_payment_method(self) -> None:
        order = self._order()
        if order is None:
            return
        self.client.put(
            f"/admin/orders/{order}/payment-method",
            json={"method": self.fake.random_element(["paypal", "sepa_debit", "card"])},
            headers=self.admin,
            name="PUT /admin/orders/{id}/payment-method",
        )
