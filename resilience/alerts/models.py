"""Tables of the escalation policy: alerts, every notification attempt, silences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from resilience.persistence import Base, Id, UtcDateTime

__all__ = ["AlertNotification", "AlertRow", "AlertSilence"]


class AlertRow(Base):
    """One alert: a rule's condition holding for one set of labels, from firing to resolved."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(2))
    dedup_key: Mapped[str] = mapped_column(String(255), index=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # firing|acknowledged|resolved
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[int] = mapped_column(Integer, default=0)  # escalation level: contact index
    notified: Mapped[int] = mapped_column(Integer, default=0)  # notification rounds sent
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    muted_by: Mapped[int | None] = mapped_column(Integer)  # the P0 alert that explains it
    silenced_by: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class AlertNotification(Base):
    """One notification attempt on one channel (sent, failed, or skipped and why)."""

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # fired|escalated|resolved
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # sent|failed|skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class AlertSilence(Base):
    """No notifications for matching alerts between ``starts_at`` and ``ends_at``."""

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
