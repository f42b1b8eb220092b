"""The shop's alert rules and their evaluation loop (run by every ``shop worker``).

Rules, all thresholds and windows settings:

- **P0 payment_processing_down** (per provider): at least ``SHOP_ALERT_P0_MIN_FAILURES`` webhook
  processing failures in ``SHOP_ALERT_P0_WINDOW_S`` and not one event processed.
- **P1 webhook_failures** (per provider): more than ``SHOP_ALERT_P1_MAX_FAILURES`` failures in
  ``SHOP_ALERT_P1_WINDOW_S`` (one hour by default). A P0 for the provider mutes it.
- **P2 queue_depth** (per queue): deeper than ``SHOP_ALERT_P2_QUEUE_DEPTH``.
- **P3 slow_jobs** (per job): jobs recorded slower than the threshold in ``SHOP_ALERT_P3_WINDOW_S``.

Several workers run the loop; a Redis key taken with ``SET NX PX`` lets one of them evaluate
each round.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import redis
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from resilience.alerts import Channel, Escalation, Severity, Signal
from resilience.alerts.notifiers import (
    EmailNotifier,
    LogNotifier,
    Notifier,
    SlackNotifier,
    TwilioNotifier,
)
from resilience.audit import AuditTrail
from resilience.queues.health import QueueHealth
from resilience.queues.models import SlowJobRow
from resilience.shop.settings import ShopSettings
from resilience.webhooks.metrics import WebhookMetrics

__all__ = ["ROUND_KEY", "AlertLoop", "SignalSources", "build_escalation", "shop_signals"]

log = logging.getLogger(__name__)

ROUND_KEY = "alerts:round"
FAILED = ("failed", "dead_lettered")


def build_escalation(
    settings: ShopSettings,
    sessions: sessionmaker[Session],
    audit: AuditTrail,
    clock: Callable[[], datetime],
    owned: list[Callable[[], object]],
) -> Escalation:
    """The escalation policy with a notifier for every channel that is configured."""
    notifiers: dict[Channel, Notifier] = {Channel.LOG: LogNotifier()}
    http: httpx.Client | None = None
    if settings.alert_slack_webhook_url or settings.alert_twilio_account_sid:
        http = httpx.Client(timeout=settings.alert_notify_timeout_s)
        owned.append(http.close)
    if http is not None and settings.alert_slack_webhook_url:
        notifiers[Channel.SLACK] = SlackNotifier(
            http, settings.alert_slack_webhook_url.get_secret_value()
        )
    if (
        http is not None
        and settings.alert_twilio_account_sid
        and settings.alert_twilio_auth_token
        and settings.alert_twilio_from
    ):
        notifiers[Channel.SMS] = TwilioNotifier(
            http,
            settings.alert_twilio_base_url,
            settings.alert_twilio_account_sid,
            settings.alert_twilio_auth_token.get_secret_value(),
            settings.alert_twilio_from,
        )
    if settings.alert_smtp_host:
        notifiers[Channel.EMAIL] = EmailNotifier(
            settings.alert_smtp_host,
            settings.alert_smtp_port,
            settings.alert_smtp_from,
            timeout_s=settings.alert_notify_timeout_s,
            starttls=settings.alert_smtp_starttls,
            username=settings.alert_smtp_user,
            password=(
                settings.alert_smtp_password.get_secret_value()
                if settings.alert_smtp_password
                else None
            ),
        )
    return Escalation(
        sessions,
        settings.alert_policy(),
        notifiers,
        clock=clock,
        audit=audit,
        attempts=settings.alert_notify_attempts,
        backoff_min_s=settings.alert_notify_backoff_min_s,
        backoff_max_s=settings.alert_notify_backoff_max_s,
    )


@dataclass(frozen=True)
class SignalSources:
    """What the rules read: the settings (thresholds, windows), the webhook counters, the
    queues' depths (none: the queue rule is not evaluated), the database (slow jobs), a clock.
    """

    settings: ShopSettings
    metrics: WebhookMetrics
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    health: QueueHealth | None = None
    queues: tuple[str, ...] = ()


def shop_signals(sources: SignalSources) -> tuple[list[Signal], set[str]]:
    """The conditions that hold now, and the rules whose sources could be read."""
    s = sources.settings
    signals: list[Signal] = []
    evaluated: set[str] = set()
    try:
        recent = sources.metrics.in_window(s.alert_p0_window_s)
        hourly = sources.metrics.in_window(s.alert_p1_window_s)
    except (redis.RedisError, OSError) as exc:
        log.warning("alert rules on webhooks skipped: counters unreadable (%s)", exc)
    else:
        evaluated |= {"payment_processing_down", "webhook_failures"}
        failed0, processed0, failed1 = Counter[str](), Counter[str](), Counter[str]()
        for (name, provider, _), n in recent.items():
            if name in FAILED:
                failed0[provider] += n
            elif name == "processed":
                processed0[provider] += n
        for (name, provider, _), n in hourly.items():
            if name in FAILED:
                failed1[provider] += n
        for provider, n in sorted(failed0.items()):
            if n >= s.alert_p0_min_failures and processed0[provider] == 0:
                signals.append(
                    Signal(
                        "payment_processing_down",
                        Severity.P0,
                        {"provider": provider},
                        f"{n} {provider} event(s) failed processing in the last "
                        f"{s.alert_p0_window_s:g} s and none was processed",
                    )
                )
        for provider, n in sorted(failed1.items()):
            if n > s.alert_p1_max_failures:
                signals.append(
                    Signal(
                        "webhook_failures",
                        Severity.P1,
                        {"provider": provider},
                        f"{n} {provider} webhook processing failure(s) in the last "
                        f"{s.alert_p1_window_s:g} s (threshold {s.alert_p1_max_failures})",
                    )
                )
    if sources.health is not None:
        health = sources.health
        try:
            depths = {q: health.depth(q) for q in sources.queues}
        except (redis.RedisError, OSError) as exc:
            log.warning("queue depth rule skipped: Redis unreadable (%s)", exc)
        else:
            evaluated.add("queue_depth")
            for queue, depth in depths.items():
                if depth > s.alert_p2_queue_depth:
                    signals.append(
                        Signal(
                            "queue_depth",
                            Severity.P2,
                            {"queue": queue},
                            f"{depth} jobs on {queue} (threshold {s.alert_p2_queue_depth})",
                        )
                    )
    try:
        since = sources.clock() - timedelta(seconds=s.alert_p3_window_s)
        with sources.sessions() as session:
            slow = session.execute(
                select(SlowJobRow.job, func.count())
                .where(SlowJobRow.started_at >= since)
                .group_by(SlowJobRow.job)
            ).all()
    except SQLAlchemyError as exc:
        log.warning("slow job rule skipped: database unreadable (%s)", exc)
    else:
        evaluated.add("slow_jobs")
        for job, count in slow:
            signals.append(
                Signal(
                    "slow_jobs",
                    Severity.P3,
                    {"job": job},
                    f"{count} {job} job(s) slower than {s.slow_job_threshold_s:g} s in the last "
                    f"{s.alert_p3_window_s:g} s",
                )
            )
    return signals, evaluated


class AlertLoop:
    """Evaluate the rules every ``SHOP_ALERT_EVAL_INTERVAL_S`` until ``stop`` is set; one worker
    per round (a Redis key), the others skip it."""

    def __init__(
        self,
        escalation: Escalation,
        sources: SignalSources,
        client: redis.Redis,
        stop: threading.Event,
    ) -> None:
        self.escalation = escalation
        self.sources = sources
        self.client = client
        self.stop = stop
        self.interval_s = sources.settings.alert_eval_interval_s
        self._token = uuid.uuid4().hex

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="alerts", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        while not self.stop.wait(self.interval_s):
            self.round()

    def round(self) -> bool:
        """One round if this worker wins it; whether it evaluated. Never raises."""
        try:
            won = self.client.set(
                ROUND_KEY, self._token, nx=True, px=max(1, int(self.interval_s * 900))
            )
        except (redis.RedisError, OSError) as exc:
            log.warning("alert round skipped: Redis unreachable (%s)", exc)
            return False
        if not won:
            return False
        try:
            signals, evaluated = shop_signals(self.sources)
            self.escalation.evaluate(signals, evaluated)
        except Exception:  # the loop must outlive any one bad round
            log.exception("alert round failed")
        return True
