"""Load for the reference shop service, run by chaosgate in its own process (``load:`` steps).

Settings come from the environment the scenario gives: ``CG_PRODUCT_ID`` (the product to order),
``CG_RPS_PER_USER`` (orders per second per simulated user; users x this = the target rate).
Only this file imports Locust: it patches the interpreter with gevent.
"""

from __future__ import annotations

import os

from locust import HttpUser, constant_throughput, task


class ShopCustomer(HttpUser):
    """Places one-item orders at a constant rate."""

    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "1")))

    @task
    def place_order(self) -> None:
        product = int(os.environ.get("CG_PRODUCT_ID", "1"))
        with self.client.post(
            "/orders",
            json={"lines": [{"product_id": product, "quantity": 1}]},
            name="POST /orders",
            catch_response=True,
        ) as response:
            # 429 is the shop's backpressure working, not a failure of the load.
            if response.status_code in (200, 201, 429):
                response.success()
