"""A locustfile for the arrival-model tests: each user GETs / and paces itself at
CG_RPS_PER_USER (a closed model; an open arrival model replaces its pacing)."""

from __future__ import annotations

import os

from locust import HttpUser, constant_throughput, task


class Reader(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "10")))

    @task
    def read(self) -> None:
        self.client.get("/")
