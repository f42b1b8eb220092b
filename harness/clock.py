"""Time for a scenario run: one object the runner and its threads ask for the time, sleep on,
wait on events with, and start threads through.

:class:`SystemClock` is the real thing. Tests give :class:`harness.testing.VirtualClock`, on
which time passes only when every thread of the run waits, so the runner's timeline, sampling
and verdicts are tested at zero wall time and exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Task"]


class Task(Protocol):
    """A thread started through a :class:`Clock`."""

    def join(self) -> None:
        """Wait until it has finished."""
        ...

    def is_alive(self) -> bool: ...


class Clock(Protocol):
    """Monotonic time, sleeping, waiting for events and starting threads.

    Every wait of the run goes through the clock, so a virtual clock knows when all its
    threads wait and may let time pass.
    """

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def event(self) -> threading.Event:
        """A new event that :meth:`wait` can wait on."""
        ...

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        """Wait until ``event`` is set or ``timeout_s`` passes; whether it is set."""
        ...

    def spawn(self, target: Callable[[], None], name: str) -> Task:
        """Start ``target`` on a thread of its own."""
        ...

    def join(self, task: Task) -> None:
        """Wait for ``task`` to finish."""
        ...


class _Thread:
    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._thread = threading.Thread(target=target, name=name)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class SystemClock:
    """The machine's monotonic clock and real threads."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def event(self) -> threading.Event:
        return threading.Event()

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        return event.wait(None if timeout_s is None else max(0.0, timeout_s))

    def spawn(self, target: Callable[[], None], name: str) -> Task:
        return _Thread(target, name)

    def join(self, task: Task) -> None:
        task.join()
