"""The escalation engine: signals in, alerts and notifications out.

Each evaluation round receives the conditions that hold now (:class:`Signal`, one per rule and
label set) and the rules that were evaluated (a rule whose source could not be read resolves
nothing). In one transaction it fires new alerts, refreshes ongoing ones and resolves those whose
condition cleared; decides who is muted (a firing P0 mutes lower alerts whose labels it shares;
one that fired muted stays muted until it clears, so the tail of an outage does not page as a
P1), silenced, grouped (fired again within the group interval of its key's last notification) or due
for escalation (unacknowledged past its response window: re-notified one contact further). The
notifications are sent after the commit, each recorded as sent, failed or skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from resilience.alerts.models import AlertNotification, AlertRow, AlertSilence
from resilience.alerts.notifiers import Delivery, Message, Notifier, deliver
from resilience.alerts.policy import Channel, Policy, Severity
from resilience.audit import Actor, AuditTrail
from resilience.errors import AlertResolved, UnknownAlert

__all__ = ["AlertView", "Escalation", "Round", "Signal", "dedup_key"]

log = logging.getLogger(__name__)

FIRING, ACKNOWLEDGED, RESOLVED = "firing", "acknowledged", "resolved"


def dedup_key(rule: str, labels: Mapping[str, str]) -> str:
    return rule + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


@dataclass(frozen=True)
class Signal:
    """A rule's condition holding now for one set of labels."""

    rule: str
    severity: Severity
    labels: Mapping[str, str]
    summary: str

    @property
    def key(self) -> str:
        return dedup_key(self.rule, self.labels)


@dataclass(frozen=True)
class AlertView:
    id: int
    rule: str
    severity: str
    labels: dict[str, str]
    summary: str
    state: str
    fired_at: datetime
    last_seen_at: datetime
    occurrences: int
    level: int
    notified: int
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    muted_by: int | None
    silenced_by: int | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(self).items()}


@dataclass
class Round:
    """What one evaluation did (ids of alerts)."""

    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    notifications: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # alert, channel, status


@dataclass(frozen=True)
class _Outbound:
    alert_id: int
    kind: str
    channel: Channel
    target: str | None
    message: Message


class Escalation:
    """Alerts of one database, routed by ``policy`` through ``notifiers``.

    Parameters:
        notifiers: channel -> notifier; a routed channel without one is recorded as skipped.
        audit: acknowledgements, manual resolutions and silences are audited when given.
        attempts, backoff_min_s, backoff_max_s: retries of one notification.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: Policy,
        notifiers: Mapping[Channel, Notifier],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        audit: AuditTrail | None = None,
        attempts: int = 3,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self.policy = policy
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._audit = audit
        self._attempts = attempts
        self._backoff = (backoff_min_s, backoff_max_s)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, signals: Iterable[Signal], evaluated: Iterable[str]) -> Round:
        """One round; ``evaluated``: the rules whose sources were read (others keep firing)."""
        now = self._clock()
        current = {s.key: s for s in signals}
        rules = set(evaluated) | {s.rule for s in current.values()}
        result = Round()
        outbound: list[_Outbound] = []
        with self._sessions.begin() as session:
            active = {
                a.dedup_key: a
                for a in session.scalars(select(AlertRow).where(AlertRow.state != RESOLVED))
            }
            for key, signal in current.items():
                alert = active.get(key)
                if alert is None:
                    alert = AlertRow(
                        rule=signal.rule,
                        severity=signal.severity.value,
                        dedup_key=key,
                        labels=dict(signal.labels),
                        summary=signal.summary,
                        state=FIRING,
                        fired_at=now,
                        last_seen_at=now,
                        occurrences=1,
                        level=0,
                        notified=0,
                    )
                    session.add(alert)
                    session.flush()
                    active[key] = alert
                    result.fired.append(alert.id)
                    log.warning("alert #%s fired: %s %s", alert.id, key, signal.summary)
                else:
                    alert.last_seen_at = now
                    alert.occurrences += 1
                    alert.summary = signal.summary
            for key, alert in active.items():
                if key not in current and alert.rule in rules:
                    self._resolve(alert, now, "policy", outbound)
                    result.resolved.append(alert.id)
            firing = [a for a in active.values() if a.state != RESOLVED]
            silences = list(
                session.scalars(
                    select(AlertSilence).where(
                        AlertSilence.starts_at <= now, AlertSilence.ends_at > now
                    )
                )
            )
            for alert in firing:
                self._decide(session, alert, firing, silences, now, result, outbound)
        self._send(outbound, result)
        return result

    def _decide(
        self,
        session: Session,
        alert: AlertRow,
        firing: Sequence[AlertRow],
        silences: Sequence[AlertSilence],
        now: datetime,
        result: Round,
        outbound: list[_Outbound],
    ) -> None:
        severity = Severity(alert.severity)
        muter = next(
            (
                p
                for p in firing
                if p is not alert
                and p.severity == Severity.P0.value
                and severity.rank > 0
                and all(alert.labels.get(k) == v for k, v in p.labels.items())
            ),
            None,
        )
        if muter is not None and alert.notified == 0:
            # Explained by the P0 from the start: muted for as long as it keeps firing, also
            # after the P0 resolves (its failures are the outage's, already paged).
            alert.muted_by = muter.id
            alert.note = f"explained by P0 alert #{muter.id}"
        silence = next((s for s in silences if _matches(s, alert)), None)
        alert.silenced_by = silence.id if silence else None
        if alert.muted_by is not None or silence is not None or muter is not None:
            return
        if alert.notified == 0:
            window = timedelta(seconds=self.policy.group_interval_s)
            recent = session.scalars(
                select(AlertRow)
                .where(
                    AlertRow.dedup_key == alert.dedup_key,
                    AlertRow.id != alert.id,
                    AlertRow.last_notified_at >= now - window,
                )
                .order_by(AlertRow.id.desc())
                .limit(1)
            ).first()
            if recent is not None:
                alert.note = f"grouped with alert #{recent.id}, notified within the group interval"
                result.suppressed.append(alert.id)
                return
            alert.note = None
            alert.notified, alert.last_notified_at = 1, now
            outbound.extend(self._fanout(alert, "fired"))
            return
        ack_window = self.policy.ack_windows_s.get(severity)
        last = alert.last_notified_at
        if (
            alert.state == FIRING
            and ack_window is not None
            and last is not None
            and now - _aware(last) >= timedelta(seconds=ack_window)
        ):
            alert.level += 1
            alert.notified += 1
            alert.last_notified_at = now
            outbound.extend(self._fanout(alert, "escalated"))
            result.escalated.append(alert.id)
            log.warning("alert #%s unacknowledged: escalated to level %d", alert.id, alert.level)

    def _resolve(self, alert: AlertRow, now: datetime, by: str, outbound: list[_Outbound]) -> None:
        alert.state = RESOLVED
        alert.resolved_at = now
        alert.resolved_by = by
        if alert.notified:
            outbound.extend(self._fanout(alert, "resolved"))
        log.info("alert #%s resolved by %s", alert.id, by)

    def _fanout(self, alert: AlertRow, kind: str) -> list[_Outbound]:
        message = Message(
            alert_id=alert.id,
            severity=alert.severity,
            rule=alert.rule,
            labels=dict(alert.labels),
            summary=alert.summary,
            kind=kind,
            level=alert.level,
            fired_at=_aware(alert.fired_at),
        )
        return [
            _Outbound(alert.id, kind, channel, self.policy.target(channel, alert.level), message)
            for channel in self.policy.channels(Severity(alert.severity))
        ]

    def _send(self, outbound: Sequence[_Outbound], result: Round) -> None:
        if not outbound:
            return
        records = []
        for item in outbound:
            notifier = self._notifiers.get(item.channel)
            if notifier is None:
                delivery = Delivery("skipped", 0, f"channel {item.channel} is not configured")
            else:
                delivery = deliver(
                    notifier,
                    item.message,
                    item.target,
                    attempts=self._attempts,
                    backoff_min_s=self._backoff[0],
                    backoff_max_s=self._backoff[1],
                )
            records.append((item, delivery, self._clock()))
            result.notifications.append((item.alert_id, item.channel.value, delivery.status))
        with self._sessions.begin() as session:
            for item, delivery, at in records:
                session.add(
                    AlertNotification(
                        alert_id=item.alert_id,
                        kind=item.kind,
                        channel=item.channel.value,
                        target=item.target,
                        status=delivery.status,
                        attempts=delivery.attempts,
                        error=delivery.error,
                        at=at,
                    )
                )

    # -- operators ----------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: Actor) -> AlertView:
        """Stop the escalation of an alert; it still resolves when its condition clears."""
        with self._sessions.begin() as session:
            alert = self._get(session, alert_id)
            if alert.state == RESOLVED:
                raise AlertResolved(alert_id, "acknowledge")
            before = _state(alert)
            alert.state = ACKNOWLEDGED
            alert.acknowledged_at = self._clock()
            alert.acknowledged_by = actor.user_id
            self._audit_change(session, "alert_acknowledged", alert, before, actor)
            return _view(alert)

    def resolve(self, alert_id: int, actor: Actor) -> AlertView:
        """Resolve by hand (resolved notifications go out). If the condition still holds, the
        next round fires a new alert: silence it instead during maintenance."""
        outbound: list[_Outbound] = []
        with self._sessions.begin() as session:
            alert = self._get(session, alert_id)
            if alert.state == RESOLVED:
                raise AlertResolved(alert_id, "resolve")
            before = _state(alert)
            self._resolve(alert, self._clock(), actor.user_id, outbound)
            self._audit_change(session, "alert_resolved", alert, before, actor)
            view = _view(alert)
        self._send(outbound, Round())
        return view

    def silence(
        self,
        *,
        rule: str | None,
        labels: Mapping[str, str],
        duration: timedelta,
        actor: Actor,
        reason: str,
    ) -> int:
        """Mute notifications of matching alerts for ``duration`` (a maintenance window)."""
        if rule is None and not labels:
            raise ValueError("a silence needs a rule or at least one label to match")
        if duration <= timedelta(0):
            raise ValueError(f"duration {duration} must be positive")
        now = self._clock()
        with self._sessions.begin() as session:
            row = AlertSilence(
                rule=rule,
                labels=dict(labels),
                starts_at=now,
                ends_at=now + duration,
                created_by=actor.user_id,
                reason=reason,
            )
            session.add(row)
            session.flush()
            if self._audit is not None:
                self._audit.record(
                    session,
                    action="alert_silenced",
                    entity_type="AlertSilence",
                    entity_id=row.id,
                    actor=actor,
                    before=None,
                    after={
                        "rule": rule,
                        "labels": dict(labels),
                        "ends_at": row.ends_at.isoformat(),
                        "reason": reason,
                    },
                )
            return row.id

    def alerts(self, *, state: str | None = None, limit: int = 100) -> list[AlertView]:
        query = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
        if state is not None:
            query = query.where(AlertRow.state == state)
        with self._sessions() as session:
            return [_view(a) for a in reversed(list(session.scalars(query)))]

    def notifications(self, *alert_ids: int) -> list[AlertNotification]:
        """Notification attempts, oldest first: of these alerts, or of all."""
        query = select(AlertNotification).order_by(AlertNotification.id)
        if alert_ids:
            query = query.where(AlertNotification.alert_id.in_(alert_ids))
        with self._sessions() as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    @staticmethod
    def _get(session: Session, alert_id: int) -> AlertRow:
        alert = session.get(AlertRow, alert_id, with_for_update=True)
        if alert is None:
            raise UnknownAlert(alert_id)
        return alert

    def _audit_change(
        self, session: Session, action: str, alert: AlertRow, before: dict[str, Any], actor: Actor
    ) -> None:
        if self._audit is None:
            return
        self._audit.record(
            session,
            action=action,
            entity_type="Alert",
            entity_id=alert.id,
            actor=actor,
            before=before,
            after=_state(alert),
            metadata={"rule": alert.rule, "severity": alert.severity, "labels": alert.labels},
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(silence: AlertSilence, alert: AlertRow) -> bool:
    if silence.rule is not None and silence.rule != alert.rule:
        return False
    return all(alert.labels.get(k) == v for k, v in silence.labels.items())


def _state(alert: AlertRow) -> dict[str, Any]:
    return {"state": alert.state, "level": alert.level, "acknowledged_by": alert.acknowledged_by}


def _view(a: AlertRow) -> AlertView:
    return AlertView(
        id=a.id,
        rule=a.rule,
        severity=a.severity,
        labels=dict(a.labels),
        summary=a.summary,
        state=a.state,
        fired_at=_aware(a.fired_at),
        last_seen_at=_aware(a.last_seen_at),
        occurrences=a.occurrences,
        level=a.level,
        notified=a.notified,
        acknowledged_by=a.acknowledged_by,
        resolved_at=_aware(a.resolved_at) if a.resolved_at else None,
        resolved_by=a.resolved_by,
        muted_by=a.muted_by,
        silenced_by=a.silenced_by,
        note=a.note,
    )
