"""Hand stored events to the job queue from a background thread.

Intake answers the provider once the event is stored; enqueueing its job is a further round trip
to the broker that the provider need not wait for. :class:`Handoff` takes row ids from request
threads and enqueues them from one thread of its own. An id lost here (the process dies, the
broker is down, the buffer is full) is not lost for good: the event is stored as ``received``
and the worker's sweep enqueues it later.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from resilience.errors import DispatchFailed
from resilience.webhooks.models import EventRef

__all__ = ["Handoff"]

log = logging.getLogger(__name__)


class Handoff:
    """A bounded buffer between request threads and the broker.

    Parameters:
        enqueue: enqueues one stored event; may raise :class:`DispatchFailed`.
        max_pending: ids buffered at most; past that, :meth:`submit` drops (the sweep catches up).
    """

    def __init__(self, enqueue: Callable[[EventRef], None], *, max_pending: int = 10_000) -> None:
        self._enqueue = enqueue
        self._queue: queue.Queue[EventRef | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="webhook-handoff", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.dropped = 0

    def submit(self, ref: EventRef) -> None:
        """Queue ``ref`` for enqueueing; never blocks, never raises."""
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True
        try:
            self._queue.put_nowait(ref)
        except queue.Full:
            self.dropped += 1
            log.warning("handoff buffer full; event row %s waits for the sweep", ref.row_id)

    def _run(self) -> None:
        while (ref := self._queue.get()) is not None:
            try:
                self._enqueue(ref)
            except DispatchFailed as exc:
                log.warning("%s; the event is stored and the sweep will enqueue it", exc)
            except Exception:  # the thread must survive anything one enqueue does
                log.exception("enqueueing event row %s failed; the sweep will retry", ref.row_id)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Return once every id submitted so far has been handed to the broker (or dropped)."""
        if self._started:
            self._queue.join()

    def close(self, timeout_s: float = 5.0) -> None:
        """Enqueue what is buffered (up to ``timeout_s``), then stop the thread."""
        if not self._started:
            return
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
