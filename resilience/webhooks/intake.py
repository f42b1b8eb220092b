"""Webhook intake: verify → anti-loop cache → inbox → enqueue → acknowledge.

Nothing is stored for a rejected delivery. The intake never applies an event itself; a job does.
If Redis (anti-loop cache, metrics) is down, intake goes on: the inbox's unique constraint still
stops duplicates. If the database is down, the delivery is refused with an error the route turns
into 503, so the provider retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import redis

from resilience.errors import DispatchFailed, PayloadInvalid, SignatureInvalid, WebhookRejected
from resilience.webhooks.dedup import SeenStore, Sighting, body_digest, delivery_fingerprint
from resilience.webhooks.delivery import Verifier
from resilience.webhooks.inbox import Inbox
from resilience.webhooks.metrics import WebhookMetrics
from resilience.webhooks.models import EventRef

__all__ = ["IntakeOutcome", "IntakeResult", "WebhookIntake"]

log = logging.getLogger(__name__)


class IntakeOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class IntakeResult:
    outcome: IntakeOutcome
    provider: str
    event_id: str
    event_type: str
    layer: str | None = None  # "cache" or "inbox" for a duplicate
    row_id: int | None = None  # the inbox row of an accepted event


class WebhookIntake:
    """Receive deliveries for the configured providers.

    Parameters:
        verifiers: provider name -> verifier.
        seen: the anti-loop cache (dedup layer 1).
        inbox: the event store (dedup layer 2).
        enqueue: hands a stored event to the processing job (the service passes a
            :class:`~resilience.webhooks.handoff.Handoff`, so the answer does not wait for it).
        metrics: counters.
        dedup_ttl_s: how long a delivery is remembered by the anti-loop cache; never less than
            the verifier's tolerance, so a delivery cannot be replayed after the cache forgot it
            while its signature still passes.
        max_body_bytes: larger bodies are refused (413).
    """

    def __init__(
        self,
        verifiers: Mapping[str, Verifier],
        *,
        seen: SeenStore,
        inbox: Inbox,
        enqueue: Callable[[EventRef], None],
        metrics: WebhookMetrics,
        dedup_ttl_s: float = 300.0,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.verifiers = dict(verifiers)
        self._seen = seen
        self._inbox = inbox
        self._enqueue = enqueue
        self._metrics = metrics
        self._dedup_ttl_s = dedup_ttl_s
        self.max_body_bytes = max_body_bytes

    def receive(self, provider: str, body: bytes, headers: Mapping[str, str]) -> IntakeResult:
        """Handle one delivery; ``headers`` keys must be lower-case.

        Raises:
            WebhookRejected: the delivery is refused (the caller answers 4xx/503).
            KeyError: ``provider`` is not configured.
        """
        verifier = self.verifiers[provider]
        self._metrics.count("received", provider)
        try:
            if len(body) > self.max_body_bytes:
                raise PayloadInvalid(
                    provider,
                    "body_too_large",
                    f"body is {len(body)} bytes; the limit is {self.max_body_bytes} "
                    "(SHOP_WEBHOOK_MAX_BODY_BYTES)",
                    http_status=413,
                )
            delivery = verifier.verify(body, headers)
            self._metrics.count("verified", provider)
            digest = body_digest(body)
            sighting = self._sight(verifier, delivery.delivery_key, digest)
            if sighting is Sighting.CONFLICT:
                raise _reused(delivery.provider, delivery.delivery_key)
            if sighting is Sighting.REPEAT:
                self._metrics.count("duplicates", provider, "cache")
                log.info("%s delivery of %r seen before: duplicate", provider, delivery.event_id)
                return IntakeResult(
                    IntakeOutcome.DUPLICATE,
                    provider,
                    delivery.event_id,
                    delivery.event_type,
                    "cache",
                )
            row_id, created = self._inbox.store(delivery, digest)
        except WebhookRejected as exc:
            self._metrics.count("rejected", provider, exc.reason)
            log.warning("%s", exc)
            raise
        if not created:
            self._metrics.count("duplicates", provider, "inbox")
            log.info("%s event %r already stored: duplicate", provider, delivery.event_id)
            return IntakeResult(
                IntakeOutcome.DUPLICATE, provider, delivery.event_id, delivery.event_type, "inbox"
            )
        self._metrics.count("accepted", provider)
        result = IntakeResult(
            IntakeOutcome.ACCEPTED,
            provider,
            delivery.event_id,
            delivery.event_type,
            row_id=row_id,
        )
        try:
            self._enqueue(EventRef(row_id, provider, delivery.event_type))
        except DispatchFailed as exc:
            # Stored is what matters to the provider; the worker's sweep enqueues it later.
            log.warning("%s; the event is stored and the sweep will enqueue it", exc)
        return result

    def _sight(self, verifier: Verifier, key: str, digest: str) -> Sighting:
        ttl_s = max(self._dedup_ttl_s, verifier.tolerance_s)
        try:
            return self._seen.sight(delivery_fingerprint(verifier.provider, key), digest, ttl_s)
        except (redis.RedisError, OSError) as exc:
            log.warning("anti-loop cache unavailable (%s); relying on the inbox", exc)
            return Sighting.FIRST


def _reused(provider: str, key: str) -> SignatureInvalid:
    return SignatureInvalid(
        provider,
        "reused_delivery",
        f"delivery {key[:80]!r} was seen with another body; a genuine delivery's signature "
        "replayed over a new body is refused",
    )
