"""A locustfile for the engine's tests: POST /writes at a constant rate per user."""

from __future__ import annotations

import os

from locust import HttpUser, constant_throughput, task


class Writer(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "5")))

    @task
    def write(self) -> None:
        self.client.post("/writes", json={"note": "x"})
