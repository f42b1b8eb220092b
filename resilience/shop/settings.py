"""One typed settings object for the reference service, read from the environment.

Every duration and threshold is a setting with its unit in its name, so a scenario can compress
an hour-long policy into seconds. Variables are prefixed ``SHOP_``; ``DATABASE_URL`` and
``REDIS_URL`` are also read without the prefix, as most platforms set them.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from resilience.alerts.policy import Policy, parse_ack_windows, parse_routes

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["ShopSettings"]


class ShopSettings(BaseSettings):
    """Settings of the reference shop service.

    Example::

        settings = ShopSettings(database_url="sqlite:///shop.db", job_max_retries=2)
    """

    model_config = SettingsConfigDict(
        env_prefix="SHOP_", frozen=True, extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="sqlite:///shop.db",
        validation_alias=AliasChoices("SHOP_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy URL: a SQLite file by default, or postgresql://... (psycopg 3)",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("SHOP_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis used as the Dramatiq broker",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="a shared bearer token for /admin: the audit trail names whoever X-Actor "
        "says (self-asserted); admin endpoints refuse all when this and the operator tokens "
        "are unset",
    )
    operator_tokens: SecretStr | None = Field(
        default=None,
        description="comma-separated NAME=TOKEN: a bearer token per operator for /admin; the "
        "audit trail names the token's operator, whatever X-Actor says",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    max_lines_per_order: int = Field(default=50, ge=1, le=1000)
    max_body_bytes: int = Field(
        default=64 * 1024,
        gt=0,
        description="largest request body of a JSON route (webhooks have their own limit); "
        "larger is a 413 before anything is parsed",
    )
    max_quantity_per_line: int = Field(default=1000, ge=1)
    api_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="processes serving the API (uvicorn workers on one port); each has its own "
        "connections to the database and Redis",
    )

    # Jobs (Dramatiq)
    migrate_on_start: bool = Field(
        default=False, description="shop serve upgrades the database to head before serving"
    )
    worker_threads: int = Field(default=4, ge=1)
    worker_shutdown_timeout_s: float = Field(default=10.0, gt=0)
    supervisor_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="how often a worker pool (shop worker --pool) follows shop queue scale "
        "and replaces dead workers",
    )
    worker_idle_timeout_ms: int = Field(
        default=1_000, ge=10, description="an idle worker polls its queues this often"
    )
    job_max_retries: int = Field(default=5, ge=0)
    job_min_backoff_ms: int = Field(default=1_000, ge=0)
    job_max_backoff_ms: int = Field(default=300_000, ge=0)
    job_time_limit_ms: int = Field(default=60_000, gt=0)
    orders_queue: str = Field(default="orders", min_length=1)
    # Queue protection
    orders_rate_limit: int = Field(
        default=100,
        ge=0,
        description="jobs per window on the orders queue, for all workers; 0: off",
    )
    orders_rate_window_s: float = Field(default=60.0, gt=0)
    throttle_jitter_ms: int = Field(default=250, ge=0)
    slow_job_threshold_s: float = Field(default=30.0, gt=0)
    queue_warn_depth: int = Field(default=1000, ge=0)
    queue_critical_depth: int = Field(default=2000, ge=0)
    queue_rate_window_s: int = Field(default=60, ge=1)
    backpressure_enabled: bool = True
    backpressure_high: int = Field(default=1500, ge=1)
    backpressure_low: int = Field(default=1000, ge=0)
    backpressure_retry_after_s: int = Field(default=30, ge=1)
    broker_heartbeat_timeout_ms: int = Field(
        default=60_000,
        gt=0,
        description="a worker silent this long is presumed dead; its unfinished jobs are requeued",
    )
    broker_maintenance_chance: int = Field(
        default=1_000,
        ge=0,
        le=1_000_000,
        description="per million broker commands, how often dead workers' jobs are looked for",
    )
    fulfilment_sweep_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="how often shop worker re-enqueues paid orders and webhook events whose job "
        "was never enqueued",
    )
    fulfilment_stale_after_s: float = Field(
        default=60.0,
        ge=0,
        description="a paid order older than this and unfulfilled is re-enqueued",
    )

    # Webhooks: intake
    stripe_webhook_secrets: SecretStr | None = Field(
        default=None,
        description="Stripe endpoint signing secrets (whsec_...), comma-separated during rotation",
    )
    standard_webhook_secrets: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks v1 secrets (whsec_...), comma-separated during rotation",
    )
    standard_webhook_public_keys: str | None = Field(
        default=None,
        description="Standard Webhooks v1a ed25519 public keys (whpk_...), comma-separated",
    )
    paypal_webhook_id: str | None = Field(default=None, description="the webhook id PayPal gave")
    paypal_cert_hosts: str = Field(
        default="*.paypal.com", description="comma-separated host patterns for PAYPAL-CERT-URL"
    )
    paypal_cert_allow_http: bool = Field(default=False, description="only for local test servers")
    paypal_cert_cache_ttl_s: float = Field(
        default=3600.0, gt=0, description="how long a validated certificate is reused"
    )
    paypal_cert_roots: str | None = Field(
        default=None,
        description="trust anchors for PayPal's certificate: a PEM file's path or PEM text "
        "(default: the certifi bundle of public CAs)",
    )
    paypal_cert_subject: str = Field(
        default="messageverificationcerts.paypal.com",
        min_length=1,
        description="the DNS name PayPal's signing certificate must carry",
    )
    paypal_cert_failure_ttl_s: float = Field(
        default=60.0, ge=0, description="a certificate URL that failed is not fetched again for"
    )
    paypal_cert_cache_size: int = Field(
        default=32, ge=1, description="certificate URLs remembered (least recently used go)"
    )
    paypal_cert_fetches_per_min: int = Field(
        default=60, ge=1, description="certificate fetches a minute; beyond, deliveries get 503"
    )
    webhook_tolerance_s: float = Field(default=300.0, gt=0)
    webhook_max_body_bytes: int = Field(default=1 << 20, gt=0)
    webhook_dedup_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="how long the anti-loop cache remembers a delivery; never less than "
        "SHOP_WEBHOOK_TOLERANCE_S, however low this is set",
    )
    webhook_dedup_cache: bool = Field(
        default=True,
        description="false turns the anti-loop cache off: every delivery reaches the database, "
        "whose inbox still stores each event once",
    )
    webhook_metrics_bucket_s: float = Field(default=60.0, gt=0)
    webhook_rate_window_s: float = Field(default=3600.0, gt=0)
    webhook_metrics_flush_s: float = Field(
        default=0.5, ge=0, description="how often buffered webhook counters go to Redis"
    )
    # Webhooks: processing
    webhooks_queue: str = Field(default="webhooks", min_length=1)
    critical_queue: str = Field(
        default="critical",
        min_length=1,
        description="payment and refund events: never throttled, run before anything else",
    )
    critical_event_types: str = Field(
        default="payment_intent.*,charge.refund*,charge.dispute.*,PAYMENT.CAPTURE.*,"
        "PAYMENT.SALE.*,CUSTOMER.DISPUTE.*,payment.*,refund.*",
        description="comma-separated event type patterns (fnmatch, case-sensitive) processed "
        "on the critical queue; other events go to the webhooks queue",
    )
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_min_backoff_ms: int = Field(default=1_000, ge=0)
    webhook_max_backoff_ms: int = Field(default=600_000, ge=0)
    webhook_sweep_stale_after_s: float = Field(default=60.0, ge=0)
    webhook_replay_enabled: bool = Field(
        default=True,
        description="false freezes replays: shop webhooks retry refuses (dry runs still list), "
        "e.g. while a provider is known to be down",
    )
    # Payment providers' APIs (processing confirms payments there when a base URL is set)
    stripe_api_base: str | None = None
    stripe_api_key: SecretStr | None = None
    paypal_api_base: str | None = None
    paypal_api_token: SecretStr | None = None
    provider_api_timeout_s: float = Field(default=5.0, gt=0)
    provider_api_attempts: int = Field(default=4, ge=1)
    provider_api_backoff_min_s: float = Field(default=0.2, ge=0)
    provider_api_backoff_max_s: float = Field(default=5.0, ge=0)

    # ERP stock sync
    erp_base_url: str | None = Field(
        default=None, description="the ERP stock API; stock sync is off when unset"
    )
    erp_timeout_s: float = Field(default=5.0, gt=0)
    erp_attempts: int = Field(default=3, ge=1, description="HTTP attempts within one job run")
    erp_backoff_min_s: float = Field(default=0.2, ge=0)
    erp_backoff_max_s: float = Field(default=2.0, ge=0)
    erp_queue: str = Field(default="erp", min_length=1)
    erp_job_max_retries: int = Field(default=3, ge=0)
    erp_job_min_backoff_ms: int = Field(default=5_000, ge=0)
    erp_job_max_backoff_ms: int = Field(default=300_000, ge=0)

    # Connections
    db_connect_timeout_s: float = Field(default=10.0, gt=0)
    db_pool_timeout_s: float = Field(default=30.0, gt=0)
    redis_socket_timeout_s: float = Field(default=5.0, gt=0)
    health_timeout_s: float = Field(default=2.0, gt=0)
    # Audit trail
    audit_enabled: bool = Field(
        default=True,
        description="write the audit trail; false only to prove that checks catch its absence",
    )
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="key of the audit chain's HMAC; without it rows are chained by plain SHA-256 "
        "(tamper-evident against edits, but forgeable by someone who can write the table)",
    )
    audit_checkpoint_path: Path | None = Field(
        default=None,
        description="a file outside the database where the chain's head is anchored (signed "
        "with the HMAC key): shop worker writes it at every sweep, shop audit verify checks it",
    )
    # Escalation policy (P0-P3 alerts; evaluated by shop worker)
    alerts_enabled: bool = Field(default=True, description="evaluate the alert rules at all")
    alert_routes: str = Field(
        default="P0=slack,email,sms;P1=slack,email;P2=slack,email;P3=log",
        description="SEVERITY=channel,...;... with channels slack, email, sms, log",
    )
    alert_ack_windows_s: str = Field(
        default="P0=300;P1=900;P2=3600",
        description="SEVERITY=seconds;...: unacknowledged this long, an alert is re-notified "
        "to the next contact",
    )
    alert_group_interval_s: float = Field(
        default=300.0, gt=0, description="an alert key notifies at most once per interval"
    )
    alert_eval_interval_s: float = Field(default=15.0, gt=0)
    alert_email_to: str = Field(default="", description="comma-separated, escalation order")
    alert_sms_to: str = Field(default="", description="comma-separated, escalation order")
    alert_slack_webhook_url: SecretStr | None = None
    alert_twilio_base_url: str = "https://api.twilio.com"
    alert_twilio_account_sid: str | None = None
    alert_twilio_auth_token: SecretStr | None = None
    alert_twilio_from: str | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(default=25, ge=1, le=65535)
    alert_smtp_from: str = "alerts@shop.invalid"
    alert_smtp_starttls: bool = False
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_notify_timeout_s: float = Field(default=5.0, gt=0)
    alert_notify_attempts: int = Field(default=3, ge=1)
    alert_notify_backoff_min_s: float = Field(default=0.5, ge=0)
    alert_notify_backoff_max_s: float = Field(default=5.0, ge=0)
    alert_p0_window_s: float = Field(
        default=300.0, gt=0, description="P0 payment processing down: failures in this window..."
    )
    alert_p0_min_failures: int = Field(
        default=5, ge=1, description="...at least this many, and not one event processed"
    )
    alert_p1_window_s: float = Field(default=3600.0, gt=0)
    alert_p1_max_failures: int = Field(
        default=10, ge=0, description="P1: more webhook processing failures than this per window"
    )
    alert_p2_queue_depth: int = Field(default=1000, ge=0, description="P2: a queue deeper")
    alert_p3_window_s: float = Field(default=300.0, gt=0, description="P3: slow jobs this recent")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> ShopSettings:
        if self.backpressure_low >= self.backpressure_high:
            raise ValueError(
                f"SHOP_BACKPRESSURE_LOW={self.backpressure_low} must be below "
                f"SHOP_BACKPRESSURE_HIGH={self.backpressure_high}"
            )
        if self.queue_warn_depth >= self.queue_critical_depth:
            raise ValueError(
                f"SHOP_QUEUE_WARN_DEPTH={self.queue_warn_depth} must be below "
                f"SHOP_QUEUE_CRITICAL_DEPTH={self.queue_critical_depth}"
            )
        self.alert_policy()  # raises naming a bad severity or channel
        self.operators()  # raises naming a malformed entry
        self._check_standard_keys()
        if self.paypal_cert_roots is not None:
            self.paypal_roots()  # raises naming an unreadable file or text without a certificate
        if self.critical_queue == self.orders_queue:
            raise ValueError(
                f"SHOP_CRITICAL_QUEUE={self.critical_queue!r} is the throttled orders queue; "
                "payments and refunds must not wait behind the rate limit: name another queue"
            )
        return self

    def alert_policy(self) -> Policy:
        """The routing of the escalation policy; ValueError names a bad severity or channel."""
        return Policy(
            routes=parse_routes(self.alert_routes),
            ack_windows_s=parse_ack_windows(self.alert_ack_windows_s),
            email_to=_split(self.alert_email_to),
            sms_to=_split(self.alert_sms_to),
            group_interval_s=self.alert_group_interval_s,
        )

    def is_critical_event(self, event_type: str) -> bool:
        """Whether ``event_type`` is processed on :attr:`critical_queue` (called per event: the
        patterns are compiled once per setting value)."""
        return _patterns(self.critical_event_types).match(event_type) is not None

    def webhook_providers(self) -> list[str]:
        """The providers whose deliveries the intake verifies, and so accepts."""
        secrets, public_keys = self.standard_keys()
        enabled = {
            "stripe": bool(self.stripe_secrets()),
            "standard": bool(secrets or public_keys),
            "paypal": bool(self.paypal_webhook_id),
        }
        return [provider for provider, on in enabled.items() if on]

    def stripe_secrets(self) -> list[str]:
        """The Stripe signing secrets, in order; empty when Stripe webhooks are off."""
        if self.stripe_webhook_secrets is None:
            return []
        raw = self.stripe_webhook_secrets.get_secret_value()
        return [s.strip() for s in raw.split(",") if s.strip()]

    def _check_standard_keys(self) -> None:
        from resilience.webhooks.standard import (
            public_key,
            secret_key,
        )  # cryptography only when used

        secrets, public_keys = self.standard_keys()
        for setting, values, parse in (
            ("SHOP_STANDARD_WEBHOOK_SECRETS", secrets, secret_key),
            ("SHOP_STANDARD_WEBHOOK_PUBLIC_KEYS", public_keys, public_key),
        ):
            for n, value in enumerate(values, 1):
                try:
                    parse(value)
                except ValueError as exc:
                    raise ValueError(f"{setting}, entry {n}: {exc}") from None

    def standard_keys(self) -> tuple[list[str], list[str]]:
        """The Standard Webhooks ``(secrets, public keys)``; both empty when it is off."""
        secrets = self.standard_webhook_secrets
        raw = secrets.get_secret_value() if secrets is not None else ""
        return _split(raw), _split(self.standard_webhook_public_keys or "")

    def operators(self) -> dict[str, str]:
        """Operator name -> token, from ``SHOP_OPERATOR_TOKENS``; ValueError names a bad entry
        (without its token)."""
        if self.operator_tokens is None:
            return {}
        found: dict[str, str] = {}
        for n, entry in enumerate(_split(self.operator_tokens.get_secret_value()), 1):
            name, sep, token = (part.strip() for part in entry.partition("="))
            if not sep or not token or not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", name):
                shown = f" ({name[:64]!r})" if sep else ""  # without '=' it may be a token
                raise ValueError(
                    f"SHOP_OPERATOR_TOKENS entry {n}{shown} is not NAME=TOKEN with a name of "
                    "letters, digits and ._@- (up to 64)"
                )
            if is_reserved_actor(name):
                raise ValueError(f"SHOP_OPERATOR_TOKENS: {name!r} is a reserved actor name")
            found[name] = token
        return found

    def audit_key(self) -> bytes | None:
        """The audit chain's HMAC key, or None (plain SHA-256)."""
        key = self.audit_hmac_key
        return key.get_secret_value().encode() if key else None

    def paypal_hosts(self) -> list[str]:
        return [h.strip() for h in self.paypal_cert_hosts.split(",") if h.strip()]

    def paypal_roots(self) -> Sequence[Certificate] | None:
        """The configured trust anchors (None: the default bundle); ValueError names the
        problem."""
        spec = self.paypal_cert_roots
        if spec is None:
            return None
        from resilience.webhooks.paypal import load_roots  # cryptography only when configured

        text = spec.strip()
        if text.startswith("-----BEGIN"):
            source, pem = "the PEM text given", text.encode()
        else:
            source = text
            try:
                pem = Path(text).read_bytes()
            except OSError as exc:
                raise ValueError(
                    f"SHOP_PAYPAL_CERT_ROOTS={text!r}: cannot read it ({exc.strerror}); give a "
                    "PEM file's path or the PEM text itself"
                ) from None
        try:
            return load_roots(pem)
        except ValueError:
            raise ValueError(
                f"SHOP_PAYPAL_CERT_ROOTS: {source} holds no PEM certificate "
                "(-----BEGIN CERTIFICATE----- ...)"
            ) from None


RESERVED_ACTORS = ("system", "webhooks", "worker", "scheduler")


def is_reserved_actor(name: str) -> bool:
    """Names the service itself writes to the audit trail (``system:webhooks``...), which no
    caller may claim."""
    lowered = name.strip().lower()
    return ":" in lowered or lowered in RESERVED_ACTORS or lowered.startswith("system")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@functools.lru_cache(maxsize=16)
def _patterns(spec: str) -> re.Pattern[str]:
    """Comma-separated fnmatch patterns as one case-sensitive regex ((?!) matches nothing)."""
    return re.compile("|".join(fnmatch.translate(p) for p in _split(spec)) or "(?!)")
