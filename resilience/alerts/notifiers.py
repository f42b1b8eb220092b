"""Thin adapters that deliver an alert: a Slack incoming webhook, Twilio's Messages API, SMTP,
and the log. Each ``send`` raises on failure; :func:`deliver` retries with backoff and turns the
outcome into a :class:`Delivery` record, so a failed notification is recorded and never crashes
the caller.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

__all__ = [
    "Delivery",
    "EmailNotifier",
    "LogNotifier",
    "Message",
    "NotificationFailed",
    "Notifier",
    "SlackNotifier",
    "TwilioNotifier",
    "deliver",
]

log = logging.getLogger(__name__)


class NotificationFailed(Exception):
    """A channel refused or did not answer; the message says which and why."""


@dataclass(frozen=True)
class Message:
    alert_id: int
    severity: str
    rule: str
    labels: Mapping[str, str]
    summary: str
    kind: str  # fired | escalated | resolved
    level: int
    fired_at: datetime

    @property
    def title(self) -> str:
        labels = " ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        state = {"fired": "FIRING", "escalated": f"ESCALATED to level {self.level}"}.get(
            self.kind, "RESOLVED"
        )
        return f"[{self.severity}] {state}: {self.rule}" + (f" ({labels})" if labels else "")

    @property
    def text(self) -> str:
        return (
            f"{self.title}\n{self.summary}\n"
            f"alert #{self.alert_id}, fired {self.fired_at.isoformat(timespec='seconds')}"
        )


class Notifier(Protocol):
    def send(self, message: Message, target: str | None) -> None:
        """Deliver ``message`` (to ``target`` where the channel has several); raise
        :class:`NotificationFailed` or a transport error when it was not delivered."""


class SlackNotifier:
    """POST to a Slack incoming webhook: ``{"text": ...}``; Slack answers 200 ``ok``."""

    def __init__(self, client: httpx.Client, webhook_url: str) -> None:
        self.client = client
        self.webhook_url = webhook_url

    def send(self, message: Message, target: str | None) -> None:
        response = self.client.post(self.webhook_url, json={"text": message.text})
        if response.status_code != 200:
            raise NotificationFailed(
                f"Slack answered {response.status_code}: {response.text[:200]}"
            )


class TwilioNotifier:
    """POST ``{base}/2010-04-01/Accounts/{sid}/Messages.json`` (form: To, From, Body) with
    basic auth; Twilio answers 201. ``base_url`` is configurable (a test server, a proxy)."""

    def __init__(
        self, client: httpx.Client, base_url: str, account_sid: str, auth_token: str, sender: str
    ) -> None:
        self.client = client
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender

    def send(self, message: Message, target: str | None) -> None:
        if not target:
            raise NotificationFailed("no SMS number for this level (SHOP_ALERT_SMS_TO)")
        body = f"{message.title}: {message.summary}"[:1600]
        response = self.client.post(
            self.url, data={"To": target, "From": self.sender, "Body": body}, auth=self.auth
        )
        if response.status_code not in (200, 201):
            raise NotificationFailed(
                f"Twilio answered {response.status_code}: {response.text[:200]}"
            )


class EmailNotifier:
    """Send a plain-text email through an SMTP server (STARTTLS and login when configured)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        timeout_s: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.timeout_s = timeout_s
        self.starttls = starttls
        self.username, self.password = username, password

    def send(self, message: Message, target: str | None) -> None:
        if not target:
            raise NotificationFailed("no email address for this level (SHOP_ALERT_EMAIL_TO)")
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = self.sender
        email["To"] = target
        email.set_content(message.text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)


class LogNotifier:
    """P3 and anything routed to ``log``: a structured warning, nothing sent."""

    def send(self, message: Message, target: str | None) -> None:
        log.warning(
            "%s: %s",
            message.title,
            message.summary,
            extra={"severity": message.severity, "signal": message.rule, "alert": message.alert_id},
        )


@dataclass(frozen=True)
class Delivery:
    status: str  # sent | failed
    attempts: int
    error: str | None = None


_TRANSIENT = (NotificationFailed, httpx.HTTPError, smtplib.SMTPException, OSError)


def deliver(
    notifier: Notifier,
    message: Message,
    target: str | None,
    *,
    attempts: int = 3,
    backoff_min_s: float = 0.5,
    backoff_max_s: float = 5.0,
) -> Delivery:
    """Send with retries (exponential backoff, full jitter); never raises."""
    tries = 0
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(max(1, attempts)),
            wait=wait_random_exponential(multiplier=backoff_min_s, max=backoff_max_s),
            retry=retry_if_exception_type(_TRANSIENT),
            reraise=True,
        ):
            with attempt:
                tries += 1
                notifier.send(message, target)
    except Exception as exc:  # a notifier must never take the caller down
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        log.error("alert #%s not delivered to %s: %s", message.alert_id, target or "-", reason)
        return Delivery("failed", tries, reason)
    return Delivery("sent", tries)
