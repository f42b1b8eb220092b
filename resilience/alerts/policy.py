"""Severities, channels and the routing table, read from plain configuration strings.

``routes``: ``P0=slack,email,sms;P1=slack,email;P2=slack,email;P3=log``.
``ack_windows``: ``P0=300;P1=900;P2=3600`` (seconds; a severity without one never escalates).
A bad severity or channel is a :class:`ValueError` naming it and the allowed values, raised when
the settings load, so a misconfigured service refuses to start instead of paging nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Channel", "Policy", "Severity", "parse_ack_windows", "parse_routes"]


class Severity(StrEnum):
    P0 = "P0"  # payment processing down: everyone, now
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"  # log only

    @property
    def rank(self) -> int:
        """0 for P0 (most severe) to 3."""
        return int(self.value[1])


class Channel(StrEnum):
    SLACK = "slack"
    EMAIL = "email"
    SMS = "sms"
    LOG = "log"


def _severity(raw: str, where: str) -> Severity:
    try:
        return Severity(raw.strip().upper())
    except ValueError:
        allowed = ", ".join(s.value for s in Severity)
        raise ValueError(f"{where}: unknown severity {raw.strip()!r} (use {allowed})") from None


def _pairs(spec: str, where: str) -> list[tuple[str, str]]:
    pairs = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{where}: {part.strip()!r} is not SEVERITY=VALUE")
        pairs.append((key, value))
    return pairs


def parse_routes(spec: str, where: str = "SHOP_ALERT_ROUTES") -> dict[Severity, list[Channel]]:
    routes: dict[Severity, list[Channel]] = {}
    allowed = ", ".join(c.value for c in Channel)
    for key, value in _pairs(spec, where):
        channels = []
        for raw in value.split(","):
            if not raw.strip():
                continue
            try:
                channels.append(Channel(raw.strip().lower()))
            except ValueError:
                raise ValueError(
                    f"{where}: unknown channel {raw.strip()!r} for {key.strip()} (use {allowed})"
                ) from None
        routes[_severity(key, where)] = channels
    return routes


def parse_ack_windows(spec: str, where: str = "SHOP_ALERT_ACK_WINDOWS_S") -> dict[Severity, float]:
    windows: dict[Severity, float] = {}
    for key, value in _pairs(spec, where):
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(
                f"{where}: {value.strip()!r} for {key.strip()} is not seconds"
            ) from None
        if seconds <= 0:
            raise ValueError(f"{where}: {key.strip()}={value.strip()} must be above 0")
        windows[_severity(key, where)] = seconds
    return windows


@dataclass(frozen=True)
class Policy:
    """Where each severity goes, how long it may stay unacknowledged, and who comes next.

    Parameters:
        routes: severity -> channels (a severity absent here goes to the log).
        ack_windows_s: severity -> seconds until an unacknowledged alert is re-notified one
            contact further down the escalation lists.
        email_to, sms_to: contacts in escalation order (level 0 first).
        group_interval_s: an alert that fires again this soon after its key last notified is
            recorded but not notified again (flapping does not page twice).
    """

    routes: Mapping[Severity, Sequence[Channel]]
    ack_windows_s: Mapping[Severity, float] = field(default_factory=dict)
    email_to: Sequence[str] = ()
    sms_to: Sequence[str] = ()
    group_interval_s: float = 300.0

    def channels(self, severity: Severity) -> Sequence[Channel]:
        return self.routes.get(severity, (Channel.LOG,))

    def target(self, channel: Channel, level: int) -> str | None:
        """Who ``channel`` reaches at escalation ``level`` (the last contact stays last)."""
        contacts = {Channel.EMAIL: self.email_to, Channel.SMS: self.sms_to}.get(channel)
        if contacts is None:
            return None
        if not contacts:
            return None
        return contacts[min(level, len(contacts) - 1)]
