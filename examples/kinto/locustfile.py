"""Writers for the Kinto example: each user creates notes in one collection, at a constant rate,
as the Basic-auth user the scenario names (``CG_KINTO_AUTH``: ``user:password``).

Only Locust imports this file: it patches the interpreter with gevent.
"""

from __future__ import annotations

import itertools
import os

from locust import HttpUser, constant_throughput, task

_COLLECTION = os.environ.get("CG_KINTO_COLLECTION", "/v1/buckets/example/collections/notes")
_USER, _, _PASSWORD = os.environ.get("CG_KINTO_AUTH", "writer:secret").partition(":")
_numbers = itertools.count()


class NoteWriter(HttpUser):
    """Creates a note per task; Kinto answers 201 with the record (its id in ``data.id``)."""

    wait_time = constant_throughput(float(os.environ.get("CG_RPS_PER_USER", "5")))

    def on_start(self) -> None:
        self.client.auth = (_USER, _PASSWORD)

    @task
    def write(self) -> None:
        self.client.post(f"{_COLLECTION}/records", json={"data": {"n": next(_numbers)}})
