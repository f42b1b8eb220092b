"""The composition root of the reference service: settings in, wired parts out.

Each part is built on first use, from the parts it needs, and once. A server or a worker
builds every part at start (:meth:`ShopContext.from_settings`), so a bad setting fails there,
named, and no request pays for a part; a CLI command builds only what it reads
(``lazy=True``): ``shop audit verify`` loads neither Dramatiq, httpx nor the webhook
verifiers, which makes a runbook's commands cheap to run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from resilience.shop.settings import ShopSettings

if TYPE_CHECKING:
    import dramatiq
    import httpx
    import redis
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from resilience.alerts import Escalation
    from resilience.audit import Actor, AuditTrail
    from resilience.shop.alerting import SignalSources
    from resilience.shop.erp import ErpSync
    from resilience.shop.jobs import ShopJobs
    from resilience.shop.queues import ShopQueues
    from resilience.shop.service import ShopService
    from resilience.webhooks.dedup import SeenStore
    from resilience.webhooks.delivery import Verifier
    from resilience.webhooks.handoff import Handoff
    from resilience.webhooks.inbox import Inbox
    from resilience.webhooks.intake import WebhookIntake
    from resilience.webhooks.metrics import CounterStore, WebhookMetrics
    from resilience.webhooks.processor import WebhookProcessor
    from resilience.webhooks.provider_api import ProviderApi, ProviderEndpoint

__all__ = ["ShopContext"]

log = logging.getLogger(__name__)


class ShopContext:
    """Everything one shop process uses, built from settings and passed explicitly.

    Each part (``engine``, ``sessions``, ``broker``, ``jobs``, ``service``, ``inbox``,
    ``intake``, ``processor``, ``metrics``, ``handoff``, ``queues``, ``erp``, ``audit``,
    ``alerts``) is built on first use from the parts it needs; :meth:`close` releases what was
    built. ``queues`` is ``None`` for a broker that is not Redis, ``erp`` without
    ``SHOP_ERP_BASE_URL``, ``alerts`` with alerting off.

    Example::

        ctx = ShopContext.from_settings(ShopSettings())
        app = create_app(ctx)
    """

    def __init__(
        self,
        settings: ShopSettings,
        *,
        broker: dramatiq.Broker | None = None,
        seen: SeenStore | None = None,
        counters: CounterStore | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Callable[[], datetime] = clock or partial(datetime.now, UTC)
        self._given_broker = broker
        self._given_seen = seen
        self._given_counters = counters
        self._given_http = http_client
        self._owned: list[Callable[[], object]] = []  # clients this context made, in order

    @classmethod
    def from_settings(
        cls,
        settings: ShopSettings,
        *,
        broker: dramatiq.Broker | None = None,
        seen: SeenStore | None = None,
        counters: CounterStore | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] | None = None,
        lazy: bool = False,
    ) -> ShopContext:
        """Wire the service. Unit tests pass a StubBroker, in-memory stores and an HTTP client
        with a mock transport; by default everything is real (Redis from ``REDIS_URL``).

        Every part is built now unless ``lazy`` (a CLI command: each part on first use)."""
        ctx = cls(
            settings,
            broker=broker,
            seen=seen,
            counters=counters,
            http_client=http_client,
            clock=clock,
        )
        if not lazy:
            ctx.build()
        return ctx

    def build(self) -> None:
        """Build every part now, in the order a worker needs them: the actors declared, the
        queues' middleware on the broker, the handlers attached, alerting wired."""
        for part in ("jobs", "queues", "intake", "alerts"):
            getattr(self, part)

    # -- storage ----------------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        from resilience.shop.db import make_engine

        return make_engine(self.settings)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from resilience.shop.db import make_sessionmaker

        return make_sessionmaker(self.engine)

    @cached_property
    def redis(self) -> redis.Redis:
        """One Redis client for the service's own keys (anti-loop cache, counters, ERP
        switch)."""
        import redis

        client = redis.Redis.from_url(
            self.settings.redis_url,
            socket_timeout=self.settings.redis_socket_timeout_s,
            socket_connect_timeout=self.settings.redis_socket_timeout_s,
        )
        self._owned.append(client.close)
        return client

    @cached_property
    def http(self) -> httpx.Client:
        """The client for the providers' APIs and certificates."""
        if self._given_http is not None:
            return self._given_http
        import httpx

        client = httpx.Client(timeout=self.settings.provider_api_timeout_s)
        self._owned.append(client.close)
        return client

    @cached_property
    def audit(self) -> AuditTrail:
        from resilience.audit import AuditTrail

        settings = self.settings
        if not settings.audit_enabled:
            log.warning("SHOP_AUDIT_ENABLED=false: critical actions are NOT audited")
        key = settings.audit_hmac_key
        return AuditTrail(
            key=key.get_secret_value().encode() if key else None,
            clock=self.clock,
            enabled=settings.audit_enabled,
        )

    # -- jobs and queues --------------------------------------------------------------------

    @cached_property
    def broker(self) -> dramatiq.Broker:
        if self._given_broker is not None:
            return self._given_broker
        from resilience.shop.jobs import make_broker

        return make_broker(self.settings)

    @cached_property
    def actors(self) -> ShopJobs:
        """The shop's actors declared on the broker: enough to enqueue a job. What they run is
        attached by :attr:`jobs`, which a worker uses."""
        from resilience.shop.jobs import ShopJobs

        return ShopJobs(self.broker, self.settings)

    @cached_property
    def jobs(self) -> ShopJobs:
        """The actors with what they run attached: the service, the webhook processor and the
        ERP sync (the service also dispatches to the jobs, hence the two steps)."""
        self.actors.attach(self.service, self.processor, self.erp)
        return self.actors

    @cached_property
    def queues(self) -> ShopQueues | None:
        """Rate limits, slow jobs, failure reasons and backpressure on a Redis broker."""
        from resilience.shop.queues import protect

        return protect(self.broker, self.settings, lambda: self.sessions)

    # -- the service ------------------------------------------------------------------------

    @cached_property
    def service(self) -> ShopService:
        from resilience.shop.service import ShopService

        settings = self.settings
        return ShopService(
            self.sessions,
            _LaterDispatch(self),
            currency=settings.currency,
            max_lines_per_order=settings.max_lines_per_order,
            max_quantity_per_line=settings.max_quantity_per_line,
            clock=self.clock,
            audit=self.audit,
        )

    @cached_property
    def erp(self) -> ErpSync | None:
        settings = self.settings
        if not settings.erp_base_url:
            return None
        import httpx

        from resilience.shop.erp import ErpClient, ErpSync

        erp_http = httpx.Client(timeout=settings.erp_timeout_s)
        self._owned.append(erp_http.close)
        client = ErpClient(
            settings.erp_base_url,
            erp_http,
            attempts=settings.erp_attempts,
            backoff_min_s=settings.erp_backoff_min_s,
            backoff_max_s=settings.erp_backoff_max_s,
        )
        return ErpSync(client, _LaterStockSync(self), self.redis)

    @cached_property
    def alerts(self) -> Escalation | None:
        if not self.settings.alerts_enabled:
            return None
        from resilience.shop.alerting import build_escalation

        return build_escalation(self.settings, self.sessions, self.audit, self.clock, self._owned)

    # -- webhooks ---------------------------------------------------------------------------

    @cached_property
    def seen(self) -> SeenStore:
        """Layer 1 of dedup: the anti-loop cache (none when it is switched off)."""
        from resilience.webhooks.dedup import NoSeenStore, RedisSeenStore

        if not self.settings.webhook_dedup_cache:
            return NoSeenStore()
        return self._given_seen or RedisSeenStore(self.redis)

    @cached_property
    def metrics(self) -> WebhookMetrics:
        from resilience.webhooks.metrics import RedisCounterStore, WebhookMetrics

        settings = self.settings
        counters = self._given_counters or RedisCounterStore(
            self.redis, retain_s=settings.webhook_rate_window_s + settings.webhook_metrics_bucket_s
        )
        return WebhookMetrics(
            counters,
            bucket_s=settings.webhook_metrics_bucket_s,
            flush_interval_s=settings.webhook_metrics_flush_s,
            on_error=lambda exc: log.warning("webhook metrics not recorded: %s", exc),
        )

    @cached_property
    def _inbox_engine(self) -> Engine:
        """An engine of the inbox's own, for single statements on the hot path."""
        from resilience.shop.db import make_engine

        return make_engine(self.settings, autocommit=True)

    @cached_property
    def inbox(self) -> Inbox:
        """Layer 2 of dedup."""
        from resilience.webhooks.inbox import Inbox

        return Inbox(self._inbox_engine, clock=self.clock)

    @cached_property
    def provider_api(self) -> ProviderApi:
        from resilience.webhooks.provider_api import ProviderApi

        settings = self.settings
        return ProviderApi(
            _endpoints(settings),
            attempts=settings.provider_api_attempts,
            backoff_min_s=settings.provider_api_backoff_min_s,
            backoff_max_s=settings.provider_api_backoff_max_s,
            client=self.http,
        )

    @cached_property
    def processor(self) -> WebhookProcessor:
        from resilience.shop.webhook_handlers import ShopWebhookHandlers
        from resilience.webhooks.processor import ReplayRecord, WebhookProcessor

        audit = self.audit

        def on_replay(session: Session, record: ReplayRecord) -> None:
            audit.record(
                session,
                action="webhook_replayed",
                entity_type="WebhookFailure",
                entity_id=record.failure.id,
                actor=record.actor,
                before=record.before,
                after=record.after,
                metadata={
                    "provider": record.failure.provider,
                    "event_id": record.failure.event_id,
                    "event_type": record.failure.event_type,
                },
            )

        return WebhookProcessor(
            self.sessions,
            ShopWebhookHandlers(self.service, self.provider_api).table(),
            max_attempts=self.settings.webhook_max_attempts,
            enqueue=self.actors.enqueue_webhook,
            metrics=self.metrics,
            on_replay=on_replay,
            clock=self.clock,
        )

    @cached_property
    def handoff(self) -> Handoff:
        from resilience.webhooks.handoff import Handoff

        return Handoff(self.actors.enqueue_webhook)

    @cached_property
    def intake(self) -> WebhookIntake:
        from resilience.webhooks.intake import WebhookIntake

        settings = self.settings
        return WebhookIntake(
            _verifiers(settings, self.http),
            seen=self.seen,
            inbox=self.inbox,
            enqueue=self.handoff.submit,
            metrics=self.metrics,
            dedup_ttl_s=settings.webhook_dedup_ttl_s,
            max_body_bytes=settings.webhook_max_body_bytes,
        )

    # -- operations -------------------------------------------------------------------------

    def signal_sources(self) -> SignalSources:
        """What the alert rules read in this process."""
        from resilience.shop.alerting import SignalSources

        queues = self.queues
        return SignalSources(
            self.settings,
            self.metrics,
            self.sessions,
            self.clock,
            queues.health if queues is not None else None,
            queues.queues if queues is not None else (),
        )

    def audit_action(
        self,
        *,
        action: str,
        entity_type: str,
        entity_id: object,
        actor: Actor,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Audit an action whose effect is outside the database (Redis flags, requeued jobs,
        worker pools): its row is written in a transaction of its own, right after it."""
        with self.sessions.begin() as session:
            self.audit.record(
                session,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                actor=actor,
                before=before,
                after=after,
                metadata=metadata,
            )

    def check_database(self) -> None:
        """Raise if the database does not answer ``SELECT 1``."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def check_broker(self) -> None:
        """Raise if the broker's Redis does not answer PING (no-op for non-Redis brokers)."""
        client = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()

    def close(self) -> None:
        """Release what was built, in order: enqueue what is buffered, flush the counters,
        then the connections."""
        built = self.__dict__
        if "handoff" in built:
            self.handoff.close()
        if "metrics" in built:
            self.metrics.close()
        if "_inbox_engine" in built:
            self._inbox_engine.dispose()
        for close in self._owned:
            close()
        if "broker" in built:
            self.broker.close()
        if "engine" in built:
            self.engine.dispose()


class _LaterDispatch:
    """The service's dispatcher, reaching the jobs (and so Dramatiq and the broker) only when a
    paid order is dispatched: a command that lists orders never connects to the broker."""

    def __init__(self, ctx: ShopContext) -> None:
        self._ctx = ctx

    def fulfil_order(self, order_id: int) -> None:
        self._ctx.actors.fulfil_order(order_id)


class _LaterStockSync:
    """The ERP sync's way into the service, built only when a sync applies stock: pausing or
    checking the ERP never loads the service."""

    def __init__(self, ctx: ShopContext) -> None:
        self._ctx = ctx

    def sync_stock(self, levels: Sequence[tuple[str, int]]) -> dict[str, int]:
        return self._ctx.service.sync_stock(levels)


def _verifiers(settings: ShopSettings, http_client: httpx.Client) -> dict[str, Verifier]:
    from resilience.webhooks.paypal import CertificateStore, PayPalVerifier
    from resilience.webhooks.standard import StandardVerifier
    from resilience.webhooks.stripe import StripeVerifier

    verifiers: dict[str, Verifier] = {}
    providers = settings.webhook_providers()
    if "stripe" in providers:
        verifiers["stripe"] = StripeVerifier(
            settings.stripe_secrets(), tolerance_s=settings.webhook_tolerance_s
        )
    if "standard" in providers:
        secrets, public_keys = settings.standard_keys()
        verifiers["standard"] = StandardVerifier(
            secrets, public_keys, tolerance_s=settings.webhook_tolerance_s
        )
    if "paypal" in providers and settings.paypal_webhook_id:
        certificates = CertificateStore(
            allowed_hosts=settings.paypal_hosts(),
            allow_http=settings.paypal_cert_allow_http,
            roots=settings.paypal_roots(),
            subject=settings.paypal_cert_subject,
            ttl_s=settings.paypal_cert_cache_ttl_s,
            failure_ttl_s=settings.paypal_cert_failure_ttl_s,
            cache_size=settings.paypal_cert_cache_size,
            fetches_per_min=settings.paypal_cert_fetches_per_min,
            client=http_client,
        )
        verifiers["paypal"] = PayPalVerifier(
            settings.paypal_webhook_id, certificates, tolerance_s=settings.webhook_tolerance_s
        )
    return verifiers


def _endpoints(settings: ShopSettings) -> dict[str, ProviderEndpoint]:
    from resilience.webhooks.provider_api import (
        PAYPAL_PAYMENT_PATH,
        PAYPAL_REFUND_PATH,
        STRIPE_PAYMENT_PATH,
        ProviderEndpoint,
    )

    endpoints: dict[str, ProviderEndpoint] = {}
    if settings.stripe_api_base:
        key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else None
        endpoints["stripe"] = ProviderEndpoint(settings.stripe_api_base, key, STRIPE_PAYMENT_PATH)
    if settings.paypal_api_base:
        token = settings.paypal_api_token.get_secret_value() if settings.paypal_api_token else None
        endpoints["paypal"] = ProviderEndpoint(
            settings.paypal_api_base, token, PAYPAL_PAYMENT_PATH, refund_path=PAYPAL_REFUND_PATH
        )
    return endpoints
