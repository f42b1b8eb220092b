"""Background jobs of the reference service, on Dramatiq.

Actors are bound to the broker passed in (Redis in production, ``StubBroker`` in unit tests),
never to Dramatiq's global broker, so two services in one process cannot share state by accident.
Retries, backoff and the time limit come from :class:`ShopSettings`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from resilience.errors import DispatchFailed, IllegalTransition
from resilience.shop.settings import ShopSettings

if TYPE_CHECKING:
    from resilience.shop.erp import ErpSync
    from resilience.shop.service import ShopService
    from resilience.webhooks.models import EventRef
    from resilience.webhooks.processor import WebhookProcessor

__all__ = ["ShopJobs", "make_broker"]

log = logging.getLogger(__name__)


def make_broker(settings: ShopSettings) -> dramatiq.Broker:
    """A Redis broker for ``settings.redis_url`` with the settings' socket timeout."""
    return RedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves it unannotated
        url=settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
    )


class ShopJobs:
    """The shop's actors, declared on ``broker``; a :class:`~resilience.shop.service.Dispatcher`.

    The service is attached after construction because the service also dispatches to the jobs.
    """

    def __init__(self, broker: dramatiq.Broker, settings: ShopSettings) -> None:
        self.broker = broker
        self._service: ShopService | None = None
        self._processor: WebhookProcessor | None = None
        self._erp: ErpSync | None = None
        options: dict[str, Any] = {
            "max_retries": settings.job_max_retries,
            "min_backoff": settings.job_min_backoff_ms,
            "max_backoff": settings.job_max_backoff_ms,
            "time_limit": settings.job_time_limit_ms,
        }
        self.process_order: dramatiq.Actor[[int], None] = dramatiq.actor(
            actor_name="process_order",
            broker=broker,
            queue_name=settings.orders_queue,
            # Within a worker, webhooks (critical 0, others 5) run before fulfilments.
            priority=10,
            **options,
        )(self._process_order)
        # The processor counts attempts and dead-letters on the last one; Dramatiq only has to
        # keep retrying (with backoff) until then, so it gets one spare retry.
        webhook_options: dict[str, Any] = {
            "max_retries": settings.webhook_max_attempts,
            "min_backoff": settings.webhook_min_backoff_ms,
            "max_backoff": settings.webhook_max_backoff_ms,
            "time_limit": settings.job_time_limit_ms,
        }
        self.process_webhook: dramatiq.Actor[[int], None] = dramatiq.actor(
            actor_name="process_webhook",
            broker=broker,
            queue_name=settings.webhooks_queue,
            priority=5,
            **webhook_options,
        )(self._process_webhook)
        # Payments and refunds: a queue of their own that no rate limit applies to, and the
        # highest priority inside a worker, so a flash sale's backlog never delays them.
        self.process_critical_webhook: dramatiq.Actor[[int], None] = dramatiq.actor(
            actor_name="process_critical_webhook",
            broker=broker,
            queue_name=settings.critical_queue,
            priority=0,
            **webhook_options,
        )(self._process_webhook)
        self._is_critical = settings.is_critical_event

        # Stock sync from the ERP: retried by Dramatiq with its own backoff, dead-lettered after
        # the last retry (shop queue failed / retry-failed --job sync_stock).
        self.sync_stock: dramatiq.Actor[[], None] = dramatiq.actor(
            actor_name="sync_stock",
            broker=broker,
            queue_name=settings.erp_queue,
            max_retries=settings.erp_job_max_retries,
            min_backoff=settings.erp_job_min_backoff_ms,
            max_backoff=settings.erp_job_max_backoff_ms,
            time_limit=settings.job_time_limit_ms,
        )(self._sync_stock)

    def attach(
        self,
        service: ShopService,
        processor: WebhookProcessor | None = None,
        erp: ErpSync | None = None,
    ) -> None:
        self._service = service
        self._processor = processor
        self._erp = erp

    # Dispatcher
    def fulfil_order(self, order_id: int) -> None:
        self._send(self.process_order, order_id)

    def enqueue_webhook(self, ref: EventRef) -> None:
        """Hand a stored webhook event to its job; raises DispatchFailed.

        Payment and refund events (``SHOP_CRITICAL_EVENT_TYPES``) go to the critical queue,
        everything else to the webhooks queue.
        """
        critical = self._is_critical(ref.event_type)
        actor = self.process_critical_webhook if critical else self.process_webhook
        self._send(actor, ref.row_id)

    @staticmethod
    def _send(actor: dramatiq.Actor[[int], None], key: int) -> None:
        try:
            actor.send(key)
        except (redis.RedisError, dramatiq.errors.BrokerError, OSError) as exc:
            raise DispatchFailed(actor.actor_name, key, f"{type(exc).__name__}: {exc}") from exc

    def _process_webhook(self, event_row_id: int) -> None:
        if self._processor is None:  # pragma: no cover - a wiring bug
            raise RuntimeError("ShopJobs.attach(service, processor) was not called")
        status = self._processor.process(event_row_id)
        log.info("webhook event row %s is %s", event_row_id, status.value)

    def _sync_stock(self) -> None:
        if self._erp is None:
            log.warning("sync_stock: no ERP configured (SHOP_ERP_BASE_URL); nothing to do")
            return
        self._erp.run()

    def _process_order(self, order_id: int) -> None:
        if self._service is None:  # pragma: no cover - a wiring bug, not a runtime condition
            raise RuntimeError("ShopJobs.attach(service) was not called")
        try:
            order = self._service.fulfil_order(order_id)
        except IllegalTransition as exc:
            # Retrying cannot change the order's status (e.g. refunded before fulfilment).
            log.warning("order %s not fulfilled: %s", order_id, exc)
            return
        log.info("order %s is %s", order_id, order.status.value)
