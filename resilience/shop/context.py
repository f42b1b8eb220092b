"""The composition root of the reference service: settings in, wired parts out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dramatiq
import httpx
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from resilience.alerts import Escalation
from resilience.audit import Actor, AuditTrail
from resilience.shop.alerting import SignalSources, build_escalation
from resilience.shop.db import make_engine, make_sessionmaker
from resilience.shop.erp import ErpClient, ErpSync
from resilience.shop.jobs import ShopJobs, make_broker
from resilience.shop.queues import ShopQueues, protect
from resilience.shop.service import ShopService, utcnow
from resilience.shop.settings import ShopSettings
from resilience.shop.webhook_handlers import ShopWebhookHandlers
from resilience.webhooks.dedup import NoSeenStore, RedisSeenStore, SeenStore
from resilience.webhooks.delivery import Verifier
from resilience.webhooks.handoff import Handoff
from resilience.webhooks.inbox import Inbox
from resilience.webhooks.intake import WebhookIntake
from resilience.webhooks.metrics import CounterStore, RedisCounterStore, WebhookMetrics
from resilience.webhooks.paypal import CertificateStore, PayPalVerifier
from resilience.webhooks.processor import WebhookProcessor
from resilience.webhooks.provider_api import (
    PAYPAL_PAYMENT_PATH,
    PAYPAL_REFUND_PATH,
    STRIPE_PAYMENT_PATH,
    ProviderApi,
    ProviderEndpoint,
)
from resilience.webhooks.standard import StandardVerifier
from resilience.webhooks.stripe import StripeVerifier

__all__ = ["ShopContext"]

log = logging.getLogger(__name__)


@dataclass
class ShopContext:
    """Everything one shop process uses, built once from settings and passed explicitly.

    Example::

        ctx = ShopContext.from_settings(ShopSettings())
        app = create_app(ctx)
    """

    settings: ShopSettings
    engine: Engine
    sessions: sessionmaker[Session]
    broker: dramatiq.Broker
    jobs: ShopJobs
    service: ShopService
    inbox: Inbox
    intake: WebhookIntake
    processor: WebhookProcessor
    metrics: WebhookMetrics
    handoff: Handoff
    queues: ShopQueues | None = None
    erp: ErpSync | None = None
    audit: AuditTrail = field(default_factory=AuditTrail)
    alerts: Escalation | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def signal_sources(self) -> SignalSources:
        """What the alert rules read in this process."""
        return SignalSources(
            self.settings,
            self.metrics,
            self.sessions,
            self.clock,
            self.queues.health if self.queues is not None else None,
            self.queues.queues if self.queues is not None else (),
        )

    @classmethod
    def from_settings(
        cls,
        settings: ShopSettings,
        *,
        broker: dramatiq.Broker | None = None,
        seen: SeenStore | None = None,
        counters: CounterStore | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> ShopContext:
        """Wire the service. Unit tests pass a StubBroker, in-memory stores and an HTTP client
        with a mock transport; by default everything is real (Redis from ``REDIS_URL``)."""
        owned: list[Callable[[], object]] = []  # closed last, in this order
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        broker = broker if broker is not None else make_broker(settings)
        # One Redis client for the service's own keys (anti-loop cache, counters, ERP switch).
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_socket_timeout_s,
        )
        owned.append(client.close)
        if not settings.webhook_dedup_cache:
            seen = NoSeenStore()
        if seen is None or counters is None:
            seen = seen or RedisSeenStore(client)
            counters = counters or RedisCounterStore(
                client, retain_s=settings.webhook_rate_window_s + settings.webhook_metrics_bucket_s
            )
        if http_client is None:
            http_client = httpx.Client(timeout=settings.provider_api_timeout_s)
            owned.append(http_client.close)

        jobs = ShopJobs(broker, settings)
        queues = protect(broker, settings, sessions)
        key = settings.audit_hmac_key
        audit = AuditTrail(
            key=key.get_secret_value().encode() if key else None,
            clock=clock,
            enabled=settings.audit_enabled,
        )
        if not settings.audit_enabled:
            log.warning("SHOP_AUDIT_ENABLED=false: critical actions are NOT audited")
        service = ShopService(
            sessions,
            jobs,
            currency=settings.currency,
            max_lines_per_order=settings.max_lines_per_order,
            max_quantity_per_line=settings.max_quantity_per_line,
            clock=clock,
            audit=audit,
        )
        metrics = WebhookMetrics(
            counters,
            bucket_s=settings.webhook_metrics_bucket_s,
            flush_interval_s=settings.webhook_metrics_flush_s,
            on_error=lambda exc: log.warning("webhook metrics not recorded: %s", exc),
        )
        inbox_engine = make_engine(settings, autocommit=True)
        inbox = Inbox(inbox_engine, clock=clock)
        api = ProviderApi(
            _endpoints(settings),
            attempts=settings.provider_api_attempts,
            backoff_min_s=settings.provider_api_backoff_min_s,
            backoff_max_s=settings.provider_api_backoff_max_s,
            client=http_client,
        )
        processor = WebhookProcessor(
            sessions,
            ShopWebhookHandlers(service, api).table(),
            max_attempts=settings.webhook_max_attempts,
            enqueue=jobs.enqueue_webhook,
            metrics=metrics,
            on_replay=lambda session, record: audit.record(
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
            ),
            clock=clock,
        )
        handoff = Handoff(jobs.enqueue_webhook)
        intake = WebhookIntake(
            _verifiers(settings, http_client),
            seen=seen,
            inbox=inbox,
            enqueue=handoff.submit,
            metrics=metrics,
            dedup_ttl_s=settings.webhook_dedup_ttl_s,
            max_body_bytes=settings.webhook_max_body_bytes,
        )
        erp: ErpSync | None = None
        if settings.erp_base_url:
            erp_http = httpx.Client(timeout=settings.erp_timeout_s)
            owned.append(erp_http.close)
            erp = ErpSync(
                ErpClient(
                    settings.erp_base_url,
                    erp_http,
                    attempts=settings.erp_attempts,
                    backoff_min_s=settings.erp_backoff_min_s,
                    backoff_max_s=settings.erp_backoff_max_s,
                ),
                service,
                client,
            )
        jobs.attach(service, processor, erp)
        alerts = (
            build_escalation(settings, sessions, audit, clock, owned)
            if settings.alerts_enabled
            else None
        )
        # In order: enqueue what is buffered, flush counters, then release connections.
        closers = [handoff.close, metrics.close, inbox_engine.dispose, *owned]
        return cls(
            settings,
            engine,
            sessions,
            broker,
            jobs,
            service,
            inbox,
            intake,
            processor,
            metrics,
            handoff,
            queues,
            erp,
            audit,
            alerts,
            clock,
            closers,
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
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def check_broker(self) -> None:
        """Raise if the broker's Redis does not answer PING (no-op for non-Redis brokers)."""
        client = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()

    def close(self) -> None:
        for close in self._closers:
            close()
        self.broker.close()
        self.engine.dispose()


def _verifiers(settings: ShopSettings, http_client: httpx.Client) -> dict[str, Verifier]:
    verifiers: dict[str, Verifier] = {}
    if settings.stripe_secrets():
        verifiers["stripe"] = StripeVerifier(
            settings.stripe_secrets(), tolerance_s=settings.webhook_tolerance_s
        )
    secrets, public_keys = settings.standard_keys()
    if secrets or public_keys:
        verifiers["standard"] = StandardVerifier(
            secrets, public_keys, tolerance_s=settings.webhook_tolerance_s
        )
    if settings.paypal_webhook_id:
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
