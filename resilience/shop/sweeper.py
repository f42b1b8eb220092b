"""The fulfilment sweep: paid orders whose job never ran are enqueued again.

A payment is committed before its fulfilment job is enqueued; if Redis is down at that moment the
order stays ``paid``. ``shop worker`` runs this sweep in a thread so such orders are fulfilled
once the broker is back, without an operator.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from resilience.shop.service import ShopService

__all__ = ["FulfilmentSweeper"]

log = logging.getLogger(__name__)


class FulfilmentSweeper:
    """Every ``interval_s``, re-enqueue orders paid more than ``stale_after_s`` ago.

    Parameters:
        service: the shop service.
        interval_s: time between sweeps.
        stale_after_s: how old a paid, unfulfilled order must be to be swept.
        stop: set it to end :meth:`run`; its ``wait`` is also the sweeper's sleep.
    """

    def __init__(
        self,
        service: ShopService,
        *,
        interval_s: float,
        stale_after_s: float,
        stop: threading.Event | None = None,
    ) -> None:
        self._service = service
        self._interval_s = interval_s
        self._stale_after = timedelta(seconds=stale_after_s)
        self.stop = stop or threading.Event()

    def sweep_once(self) -> list[int]:
        """One sweep; database errors are logged, not raised, so the loop survives outages."""
        try:
            ids = self._service.requeue_unfulfilled(paid_before=self._stale_after)
        except SQLAlchemyError as exc:
            log.warning("fulfilment sweep skipped: database error: %s", exc)
            return []
        if ids:
            log.info("fulfilment sweep re-enqueued %d order(s): %s", len(ids), ids)
        return ids

    def run(self) -> None:
        while not self.stop.wait(self._interval_s):
            self.sweep_once()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="fulfilment-sweeper", daemon=True)
        thread.start()
        return thread
