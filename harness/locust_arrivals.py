"""The open arrival model chaosgate adds to any locustfile when a load step has ``arrival_rps``.

Loaded by Locust only (``-f user_locustfile.py,<this file>``), never imported by the harness:
Locust patches the interpreter with gevent. Users no longer pace themselves (their own
``wait_time`` is replaced): each task run takes the next arrival of a fixed schedule,
``CG_ARRIVAL_RPS`` per second in this process, so a slow answer does not lower the load
offered. The users are the pool of requests in flight; when all are busy, arrivals fall
behind their schedule and are counted as late — the rate the system did not absorb is shown,
not hidden (coordinated omission). At the end the process writes to ``CG_ARRIVALS_FILE``:
arrivals scheduled, started, started late (beyond ``CG_ARRIVAL_LATE_MS``) and the worst lag.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

__all__: list[str] = []

_RATE = float(os.environ.get("CG_ARRIVAL_RPS", "0") or 0)
_LATE_S = float(os.environ.get("CG_ARRIVAL_LATE_MS", "100")) / 1000
_PATH = os.environ.get("CG_ARRIVALS_FILE", "")


class _Schedule:
    """Arrival n is due at start + n / rate; each task run claims the next one."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.claimed = 0
        self.started = 0
        self.late = 0
        self.worst_lag_s = 0.0
        self.stopped_at: float | None = None

    def wait(self, _user: Any = None) -> float:
        """Claim the next arrival and sleep until it is due (time.sleep is gevent's in Locust);
        it counts as started once due, late when its user came back after its time. Returns 0:
        Locust has nothing left to wait."""
        now = time.monotonic()
        if self.start is None:
            self.start = now
        due = self.start + self.claimed / _RATE
        self.claimed += 1
        if due > now:
            time.sleep(due - now)
        lag = time.monotonic() - due
        self.started += 1
        if lag > _LATE_S:
            self.late += 1
        self.worst_lag_s = max(self.worst_lag_s, lag)
        return 0.0

    def summary(self) -> dict[str, float]:
        end = self.stopped_at or time.monotonic()
        elapsed = max(0.0, end - self.start) if self.start is not None else 0.0
        return {
            "rate": _RATE,
            "scheduled": int(elapsed * _RATE) + (1 if self.start is not None else 0),
            "started": self.started,
            "late": self.late,
            "worst_lag_ms": round(self.worst_lag_s * 1000, 1),
            "elapsed_s": round(elapsed, 3),
        }


_schedule = _Schedule()


def _paced_start(original: Any) -> Any:
    def on_start(user: Any) -> None:
        if original is not None:
            original(user)
        _schedule.wait()  # the first task waits for its arrival too

    return on_start


def _open(environment: Any, **_: Any) -> None:
    if _RATE <= 0:
        return
    for user_class in environment.user_classes:
        user_class.wait_time = _schedule.wait
        user_class.on_start = _paced_start(getattr(user_class, "on_start", None))


def _stopped(**_: Any) -> None:
    _schedule.stopped_at = time.monotonic()


def _report(**_: Any) -> None:
    if _PATH and _RATE > 0 and _schedule.start is not None:
        with open(_PATH, "w") as f:
            json.dump(_schedule.summary(), f)


# Locust leaves its events untyped
events.init.add_listener(_open)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_stopped)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_report)  # type: ignore[no-untyped-call]
