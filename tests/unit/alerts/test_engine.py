"""The escalation engine on SQLite with recording notifiers: routing, one notification per alert
however many rounds, escalation after the response window, acknowledgement, resolution,
inhibition by a P0, silences, grouping of flapping alerts, and failed notifications recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from resilience.alerts import Channel, Escalation, Policy, Severity, Signal
from resilience.alerts.notifiers import Message, NotificationFailed
from resilience.alerts.policy import parse_ack_windows, parse_routes
from resilience.audit import Actor, AuditTrail
from resilience.errors import AlertResolved, UnknownAlert
from resilience.shop import migrate


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str | None]] = []
        self.fail = fail

    def send(self, message: Message, target: str | None) -> None:
        if self.fail:
            raise NotificationFailed("Slack answered 500: boom")
        self.sent.append((message.title, target))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def channels() -> dict[Channel, Recorder]:
    return {c: Recorder() for c in Channel}


@pytest.fixture
def escalation(
    sqlite_url: str, clock: Clock, channels: dict[Channel, Recorder]
) -> Iterator[Escalation]:
    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    policy = Policy(
        routes=parse_routes("P0=slack,email,sms;P1=slack,email;P2=slack,email;P3=log"),
        ack_windows_s=parse_ack_windows("P0=300;P1=900;P2=3600"),
        email_to=["oncall@shop.test", "lead@shop.test"],
        sms_to=["+15550001", "+15550002"],
        group_interval_s=600,
    )
    yield Escalation(
        sessionmaker(engine),
        policy,
        dict(channels),
        clock=clock,
        audit=AuditTrail(clock=clock),
        attempts=2,
        backoff_min_s=0,
        backoff_max_s=0,
    )
    engine.dispose()


P0_STRIPE = Signal("payment_processing_down", Severity.P0, {"provider": "stripe"}, "all fail")
P1_STRIPE = Signal("webhook_failures", Severity.P1, {"provider": "stripe"}, "12 failures")
P1_PAYPAL = Signal("webhook_failures", Severity.P1, {"provider": "paypal"}, "11 failures")
RULES = {"payment_processing_down", "webhook_failures"}


def sent(channels: dict[Channel, Recorder]) -> dict[str, list[tuple[str, str | None]]]:
    return {c.value: r.sent for c, r in channels.items() if r.sent}


def test_a_p0_goes_to_every_channel_at_once(
    escalation: Escalation, channels: dict[Channel, Recorder]
) -> None:
    result = escalation.evaluate([P0_STRIPE], RULES)
    assert len(result.fired) == 1
    title = "[P0] FIRING: payment_processing_down (provider=stripe)"
    assert sent(channels) == {
        "slack": [(title, None)],
        "email": [(title, "oncall@shop.test")],
        "sms": [(title, "+15550001")],
    }


def test_a_thousand_rounds_of_failures_page_once(
    escalation: Escalation, channels: dict[Channel, Recorder], clock: Clock
) -> None:
    for _ in range(1000):
        escalation.evaluate([P1_STRIPE], RULES)
        clock.advance(0.5)  # 500 s: inside P1's 900 s response window
    assert [a.occurrences for a in escalation.alerts()] == [1000]
    assert len(channels[Channel.SLACK].sent) == 1 and len(channels[Channel.EMAIL].sent) == 1
    assert channels[Channel.SMS].sent == []  # P1 never texts


def test_unacknowledged_alerts_escalate_to_the_next_contact_until_acknowledged(
    escalation: Escalation, channels: dict[Channel, Recorder], clock: Clock
) -> None:
    escalation.evaluate([P1_STRIPE], RULES)
    clock.advance(899)
    assert escalation.evaluate([P1_STRIPE], RULES).escalated == []
    clock.advance(1)
    alert_id = escalation.evaluate([P1_STRIPE], RULES).escalated[0]
    assert channels[Channel.EMAIL].sent[-1] == (
        "[P1] ESCALATED to level 1: webhook_failures (provider=stripe)",
        "lead@shop.test",
    )
    escalation.acknowledge(alert_id, Actor("erin"))
    clock.advance(5000)
    assert escalation.evaluate([P1_STRIPE], RULES).escalated == []
    (alert,) = escalation.alerts()
    assert (alert.state, alert.level, alert.acknowledged_by) == ("acknowledged", 1, "erin")


def test_a_cleared_condition_resolves_and_says_so(
    escalation: Escalation, channels: dict[Channel, Recorder]
) -> None:
    escalation.evaluate([P1_STRIPE], RULES)
    result = escalation.evaluate([], RULES)
    assert len(result.resolved) == 1
    assert channels[Channel.SLACK].sent[-1][0].startswith("[P1] RESOLVED: webhook_failures")
    assert escalation.alerts()[0].state == "resolved"
    # A rule that was not evaluated (its source was unreadable) resolves nothing.
    escalation.evaluate([P1_PAYPAL], RULES)
    assert escalation.evaluate([], set()).resolved == []


def test_a_p0_mutes_the_p1_it_explains_and_not_another_providers(
    escalation: Escalation, channels: dict[Channel, Recorder]
) -> None:
    escalation.evaluate([P0_STRIPE, P1_STRIPE, P1_PAYPAL], RULES)
    titles = [t for t, _ in channels[Channel.SLACK].sent]
    assert titles == [
        "[P0] FIRING: payment_processing_down (provider=stripe)",
        "[P1] FIRING: webhook_failures (provider=paypal)",
    ]
    muted = next(
        a for a in escalation.alerts() if a.labels == {"provider": "stripe"} and a.severity == "P1"
    )
    assert muted.muted_by is not None and muted.notified == 0
    # The P0 clears while the outage's failures still count for the P1: still explained, silent.
    escalation.evaluate([P1_STRIPE, P1_PAYPAL], RULES)
    escalation.evaluate([P1_STRIPE, P1_PAYPAL], RULES)
    assert len(channels[Channel.SLACK].sent) == 3  # + the P0's resolved notice
    assert channels[Channel.SLACK].sent[-1][0].startswith("[P0] RESOLVED")
    # Once it clears, failures that come back are news.
    escalation.evaluate([P1_PAYPAL], RULES)
    escalation.evaluate([P1_STRIPE, P1_PAYPAL], RULES)
    assert channels[Channel.SLACK].sent[-1][0] == "[P1] FIRING: webhook_failures (provider=stripe)"


def test_a_silence_mutes_matching_alerts_until_it_ends(
    escalation: Escalation, channels: dict[Channel, Recorder], clock: Clock
) -> None:
    escalation.silence(
        rule="webhook_failures",
        labels={"provider": "stripe"},
        duration=timedelta(hours=1),
        actor=Actor("erin"),
        reason="provider maintenance",
    )
    escalation.evaluate([P1_STRIPE], RULES)
    assert channels[Channel.SLACK].sent == []
    assert escalation.alerts()[0].silenced_by is not None
    clock.advance(3600)
    escalation.evaluate([P1_STRIPE], RULES)
    assert len(channels[Channel.SLACK].sent) == 1


def test_a_flapping_alert_notifies_once_per_group_interval(
    escalation: Escalation, channels: dict[Channel, Recorder], clock: Clock
) -> None:
    for _ in range(5):  # fires, clears, fires ... every minute
        escalation.evaluate([P1_STRIPE], RULES)
        clock.advance(60)
        escalation.evaluate([], RULES)
        clock.advance(60)
    fired = [t for t, _ in channels[Channel.SLACK].sent if "FIRING" in t]
    assert len(fired) == 1
    assert len(escalation.alerts()) == 5
    clock.advance(600)
    escalation.evaluate([P1_STRIPE], RULES)
    assert len([t for t, _ in channels[Channel.SLACK].sent if "FIRING" in t]) == 2


def test_a_failed_notification_is_recorded_and_the_alert_stands(
    escalation: Escalation, channels: dict[Channel, Recorder]
) -> None:
    channels[Channel.SLACK].fail = True
    escalation.evaluate([P1_STRIPE], RULES)
    (alert,) = escalation.alerts()
    records = {(n.channel, n.status, n.attempts) for n in escalation.notifications(alert.id)}
    assert records == {("slack", "failed", 2), ("email", "sent", 1)}
    failed = next(n for n in escalation.notifications(alert.id) if n.status == "failed")
    assert failed.error == "NotificationFailed: Slack answered 500: boom"
    assert alert.state == "firing"


def test_an_unconfigured_channel_is_recorded_as_skipped(sqlite_url: str, clock: Clock) -> None:
    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    bare = Escalation(
        sessionmaker(engine), Policy(routes=parse_routes("P1=slack")), {}, clock=clock
    )
    bare.evaluate([P1_STRIPE], RULES)
    (note,) = bare.notifications()
    assert (note.status, note.error) == ("skipped", "channel slack is not configured")
    engine.dispose()


def test_manual_acknowledge_and_resolve(
    escalation: Escalation, channels: dict[Channel, Recorder]
) -> None:
    escalation.evaluate([P1_STRIPE], RULES)
    (alert,) = escalation.alerts()
    resolved = escalation.resolve(alert.id, Actor("erin"))
    assert (resolved.state, resolved.resolved_by) == ("resolved", "erin")
    assert channels[Channel.SLACK].sent[-1][0].startswith("[P1] RESOLVED")
    with pytest.raises(AlertResolved, match="already resolved; nothing to acknowledge"):
        escalation.acknowledge(alert.id, Actor("erin"))
    with pytest.raises(UnknownAlert, match="alert 999 does not exist"):
        escalation.acknowledge(999, Actor("erin"))


def test_bad_routes_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="unknown severity 'P9'"):
        parse_routes("P9=slack")
    with pytest.raises(ValueError, match="unknown channel 'pager' for P0"):
        parse_routes("P0=pager")
    with pytest.raises(ValueError, match="'P0' is not SEVERITY=VALUE"):
        parse_routes("P0")
    with pytest.raises(ValueError, match="P1=0 must be above 0"):
        parse_ack_windows("P1=0")
