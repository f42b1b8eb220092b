"""SIGINT and SIGTERM as a stop request that a process may receive any number of times.

A signal handler that takes a lock can deadlock: Python runs handlers on the main thread between
bytecodes, so a second SIGTERM can arrive while the first handler's ``Event.set()`` holds the
Event's (non-reentrant) lock, and the nested handler waits for it forever. A worker in a pool
gets two at once — its process group's and the supervisor's — and 1 in 3 hung until killed. Here
the handler only records the request; the main thread, waking every ``poll_s``, sets the Event
the other threads watch.
"""

from __future__ import annotations

import signal
import threading
import time

__all__ = ["SignalStop"]


class SignalStop:
    """Turns SIGINT/SIGTERM into ``event`` being set (by the main thread, in :meth:`wait` or
    :meth:`is_set`).

    Parameters:
        event: what the process's other threads wait on.
        poll_s: how often a waiting main thread looks for a signal.
    """

    def __init__(self, event: threading.Event, *, poll_s: float = 0.2) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s={poll_s!r}: must be positive")
        self.event = event
        self._poll_s = poll_s
        self._signalled = False

    def install(self) -> SignalStop:
        """Handle SIGINT and SIGTERM from now on (main thread only)."""
        for signo in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signo, self._handle)
        return self

    def _handle(self, _signo: int, _frame: object) -> None:
        self._signalled = True  # nothing that takes a lock: see the module docstring

    def is_set(self) -> bool:
        """A signal came (the event is then set) or someone set the event."""
        if self._signalled and not self.event.is_set():
            self.event.set()
        return self.event.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until a signal comes or the event is set (True), or ``timeout_s`` passes (False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.is_set():
            left = self._poll_s
            if deadline is not None:
                left = min(left, deadline - time.monotonic())
            if left <= 0:
                return False
            self.event.wait(left)
        return True
