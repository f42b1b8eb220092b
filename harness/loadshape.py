"""The load shape chaosgate adds to any locustfile when a load step has ``shape`` stages.

Loaded by Locust only (``-f user_locustfile.py,<this file>``), never imported by the harness:
Locust patches the interpreter with gevent. The stages come from ``CG_LOAD_SHAPE``, JSON
``[[end_s, users, spawn_rate], ...]`` with end times already scaled.
"""

from __future__ import annotations

import json
import os

from locust import LoadTestShape

__all__ = ["StagedShape"]

_STAGES: list[tuple[float, int, float]] = [
    (float(end), int(users), float(rate))
    for end, users, rate in json.loads(os.environ.get("CG_LOAD_SHAPE", "[]"))
]


class StagedShape(LoadTestShape):
    """Each stage holds its user count until its end time; after the last, the load stops."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()  # type: ignore[no-untyped-call]
        for end, users, rate in _STAGES:
            if elapsed < end:
                return users, rate
        return None
