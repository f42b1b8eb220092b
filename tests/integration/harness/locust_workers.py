"""A locustfile for the distributed-load tests: POST /writes at a constant rate per user. With
``CG_DIE_IN`` set, the worker whose history file ends with it kills itself (SIGKILL) after that
many requests — a worker lost mid-step."""

from __future__ import annotations

import itertools
import os
import signal

from locust import HttpUser, constant_throughput, task

_DIE_IN = os.environ.get("CG_DIE_IN", "")
_doomed = bool(_DIE_IN) and os.environ.get("CG_HISTORY_FILE", "").endswith(_DIE_IN)
_sent = itertools.count(1)


class Writer(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "5")))

    @task
    def write(self) -> None:
        self.client.post("/writes", json={"note": "x"})
        if _doomed and next(_sent) >= int(os.environ.get("CG_DIE_AFTER", "10")):
            os.kill(os.getpid(), signal.SIGKILL)
