"""Sweeps that ``shop worker`` runs in a thread so work whose job was never enqueued is not lost.

A payment or a webhook event is committed before its job is enqueued; if Redis is down at that
moment the row waits. Each sweep finds such rows (older than a threshold) and enqueues them again;
the jobs are idempotent, so a row enqueued twice has one effect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis
from sqlalchemy.exc import SQLAlchemyError

from resilience.errors import DispatchFailed
from resilience.shop.context import ShopContext

__all__ = ["Sweep", "Sweeper", "shop_sweeps"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sweep:
    """One sweep: ``run`` enqueues what waits and returns the ids it enqueued."""

    name: str
    run: Callable[[], list[int]]


class Sweeper:
    """Every ``interval_s``, run each sweep; errors are logged, so the loop survives outages.

    Parameters:
        sweeps: what to run.
        interval_s: time between rounds.
        stop: set it to end :meth:`run`; its ``wait`` is also the sweeper's sleep.
    """

    def __init__(
        self,
        sweeps: Sequence[Sweep],
        *,
        interval_s: float,
        stop: threading.Event | None = None,
    ) -> None:
        self._sweeps = tuple(sweeps)
        self._interval_s = interval_s
        self.stop = stop or threading.Event()

    def sweep_once(self) -> dict[str, list[int]]:
        done: dict[str, list[int]] = {}
        for sweep in self._sweeps:
            try:
                ids = sweep.run()
            except (SQLAlchemyError, redis.RedisError, DispatchFailed, OSError) as exc:
                log.warning("%s sweep skipped: %s: %s", sweep.name, type(exc).__name__, exc)
                continue
            if ids:
                log.info("%s sweep re-enqueued %d item(s): %s", sweep.name, len(ids), ids)
            done[sweep.name] = ids
        return done

    def run(self) -> None:
        while not self.stop.wait(self._interval_s):
            self.sweep_once()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="sweeper", daemon=True)
        thread.start()
        return thread


def shop_sweeps(ctx: ShopContext) -> list[Sweep]:
    """The reference service's sweeps: unfulfilled paid orders, never-enqueued webhook events,
    and the audit chain's checkpoint when ``SHOP_AUDIT_CHECKPOINT_PATH`` is set."""
    settings = ctx.settings

    def fulfilment() -> list[int]:
        return ctx.service.requeue_unfulfilled(
            paid_before=timedelta(seconds=settings.fulfilment_stale_after_s)
        )

    def webhooks() -> list[int]:
        before = ctx.clock() - timedelta(seconds=settings.webhook_sweep_stale_after_s)
        enqueued = []
        for ref in ctx.inbox.stale_received(received_before=before):
            ctx.jobs.enqueue_webhook(ref)  # DispatchFailed ends this round; the next retries
            enqueued.append(ref.row_id)
        return enqueued

    sweeps = [Sweep("fulfilment", fulfilment), Sweep("webhooks", webhooks)]
    path = settings.audit_checkpoint_path
    if path is not None and settings.audit_enabled:
        from resilience.audit.checkpoint import take_checkpoint

        def checkpoint() -> list[int]:
            take_checkpoint(ctx.engine, path, key=settings.audit_key())
            return []  # it anchors the chain; it enqueues nothing

        sweeps.append(Sweep("audit checkpoint", checkpoint))
    return sweeps
