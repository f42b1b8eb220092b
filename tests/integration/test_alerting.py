"""Alerting for real: the notifiers against the harness's capture servers (HTTP and a real SMTP
server), a notifier that times out, and the shop's rules evaluated over real Redis counters
through ``shop alerts``; a bad route refuses to start."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.fakes.notify import Capture, serve_http, serve_smtp
from harness.provision import free_port
from resilience.alerts.notifiers import (
    EmailNotifier,
    Message,
    SlackNotifier,
    TwilioNotifier,
    deliver,
)
from resilience.shop.context import ShopContext
from resilience.shop.migrate import upgrade
from resilience.shop.settings import ShopSettings
from tests.support.shop import shop_command


@pytest.fixture
def capture() -> Iterator[tuple[Capture, int, int]]:
    store = Capture()
    http_port, smtp_port = free_port(), free_port()
    server = serve_http(http_port, store)
    controller = serve_smtp(smtp_port, store)
    try:
        yield store, http_port, smtp_port
    finally:
        controller.stop()
        server.shutdown()
        server.server_close()


MESSAGE = Message(
    alert_id=7,
    severity="P0",
    rule="payment_processing_down",
    labels={"provider": "stripe"},
    summary="6 stripe event(s) failed processing and none was processed",
    kind="fired",
    level=0,
    fired_at=datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
)


def test_slack_twilio_and_email_reach_the_capture_servers(
    capture: tuple[Capture, int, int],
) -> None:
    store, http_port, smtp_port = capture
    base = f"http://127.0.0.1:{http_port}"
    with httpx.Client(timeout=2) as client:
        results = [
            deliver(SlackNotifier(client, f"{base}/slack/T000/B000"), MESSAGE, None),
            deliver(
                TwilioNotifier(client, base, "AC123", "tok", "+15550000"), MESSAGE, "+15550001"
            ),
            deliver(
                EmailNotifier("127.0.0.1", smtp_port, "alerts@shop.test"),
                MESSAGE,
                "oncall@shop.test",
            ),
        ]
    assert [r.status for r in results] == ["sent", "sent", "sent"]
    got = {(m["channel"], m["severity"], m["kind"], m["to"]) for m in store.messages}
    assert got == {
        ("slack", "P0", "FIRING", "/slack/T000/B000"),
        ("sms", "P0", "FIRING", "+15550001"),
        ("email", "P0", "FIRING", "oncall@shop.test"),
    }
    answer = httpx.get(f"{base}/_capture/messages?channel=sms&severity=P0").json()
    assert answer["count"] == 1 and "payment_processing_down" in answer["messages"][0]["text"]


def test_a_notifier_that_times_out_is_a_recorded_failure(capture: tuple[Capture, int, int]) -> None:
    store, http_port, _ = capture
    store.set_mode({"mode": "slow", "delay_s": 2})
    with httpx.Client(timeout=0.3) as client:
        result = deliver(
            SlackNotifier(client, f"http://127.0.0.1:{http_port}/slack/x"),
            MESSAGE,
            None,
            attempts=2,
            backoff_min_s=0,
            backoff_max_s=0,
        )
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.error is not None and result.error.startswith("ReadTimeout")
    store.set_mode({"mode": "500"})
    with httpx.Client(timeout=2) as client:
        refused = deliver(
            SlackNotifier(client, f"http://127.0.0.1:{http_port}/slack/x"),
            MESSAGE,
            None,
            attempts=1,
        )
    assert refused.error is not None and "Slack answered 500" in refused.error


@pytest.fixture
def shop_env(tmp_path: Path, redis_url: str, capture: tuple[Capture, int, int]) -> dict[str, str]:
    _, http_port, smtp_port = capture
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SHOP_OPERATOR": "frank",
        "SHOP_ALERT_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{http_port}/slack/T/B",
        "SHOP_ALERT_SMTP_HOST": "127.0.0.1",
        "SHOP_ALERT_SMTP_PORT": str(smtp_port),
        "SHOP_ALERT_EMAIL_TO": "oncall@shop.test,lead@shop.test",
        "SHOP_ALERT_NOTIFY_TIMEOUT_S": "0.5",
        "SHOP_ALERT_NOTIFY_ATTEMPTS": "1",
        "SHOP_ALERT_P1_MAX_FAILURES": "10",
        "SHOP_WEBHOOK_METRICS_FLUSH_S": "0",
    }


def shop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shop_command(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def fail_webhooks(env: dict[str, str], n: int) -> None:
    settings = ShopSettings(database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"])
    ctx = ShopContext.from_settings(settings)
    try:
        for _ in range(n):
            ctx.metrics.count("failed", "stripe")
        ctx.metrics.count("processed", "stripe")  # not down: a P1, not a P0
    finally:
        ctx.close()


def test_webhook_failures_above_the_threshold_page_p1_once_and_ack_is_audited(
    shop_env: dict[str, str], capture: tuple[Capture, int, int]
) -> None:
    store = capture[0]
    fail_webhooks(shop_env, 11)
    first = json.loads(shop(shop_env, "alerts", "evaluate", "--json").stdout)
    assert first["signals"] == ["P1 webhook_failures|provider=stripe"]
    again = json.loads(shop(shop_env, "alerts", "evaluate", "--json").stdout)
    assert again["fired"] == [] and again["notifications"] == []
    sent = [(m["channel"], m["severity"], m["to"]) for m in store.messages]
    assert sorted(sent) == [("email", "P1", "oncall@shop.test"), ("slack", "P1", "/slack/T/B")]

    listed = json.loads(shop(shop_env, "alerts", "list", "--json").stdout)
    assert [(a["severity"], a["state"], a["occurrences"]) for a in listed] == [("P1", "firing", 2)]
    assert sorted(listed[0]["notifications"]) == ["email:sent", "slack:sent"]
    acked = shop(shop_env, "alerts", "ack", str(listed[0]["id"]))
    assert acked.returncode == 0 and "acknowledged by frank" in acked.stdout
    audit = json.loads(
        shop(shop_env, "audit", "log", "--action", "alert_acknowledged", "--json").stdout
    )
    assert [(e["entity_type"], e["user_id"], e["after"]["state"]) for e in audit] == [
        ("Alert", "frank", "acknowledged")
    ]
    missing = shop(shop_env, "alerts", "ack", "999")
    assert missing.returncode == 1 and "alert 999 does not exist" in missing.stderr
    # By rule: every firing alert of it; none firing (it was acknowledged) exits 1.
    none = shop(shop_env, "alerts", "ack", "--rule", "webhook_failures")
    assert none.returncode == 1 and "no firing alert of rule 'webhook_failures'" in none.stdout
    both = shop(shop_env, "alerts", "ack", "7", "--rule", "webhook_failures")
    assert both.returncode == 2 and "give an alert id or --rule RULE" in both.stderr
    resolved = shop(shop_env, "alerts", "resolve", "--rule", "webhook_failures", "--json")
    assert resolved.returncode == 0
    assert [a["state"] for a in json.loads(resolved.stdout)] == ["resolved"]
    changes = json.loads(
        shop(
            shop_env,
            "audit",
            "log",
            "--action",
            "alert_acknowledged",
            "--action",
            "alert_resolved",
            "--json",
        ).stdout
    )
    assert [e["action"] for e in changes] == ["alert_acknowledged", "alert_resolved"]


def test_a_timed_out_notifier_leaves_the_alert_listed_with_its_failure(
    shop_env: dict[str, str], capture: tuple[Capture, int, int]
) -> None:
    capture[0].set_mode({"mode": "slow", "delay_s": 2})
    fail_webhooks(shop_env, 11)
    assert shop(shop_env, "alerts", "evaluate").returncode == 0
    listed: list[dict[str, Any]] = json.loads(shop(shop_env, "alerts", "list", "--json").stdout)
    assert [a["state"] for a in listed] == ["firing"]
    assert sorted(listed[0]["notifications"]) == ["email:sent", "slack:failed"]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ("P5=slack", "SHOP_ALERT_ROUTES: unknown severity 'P5' (use P0, P1, P2, P3)"),
        ("P0=pager", "SHOP_ALERT_ROUTES: unknown channel 'pager' for P0"),
    ],
)
def test_a_bad_route_refuses_to_start(shop_env: dict[str, str], routes: str, message: str) -> None:
    result = shop({**shop_env, "SHOP_ALERT_ROUTES": routes}, "worker")
    assert result.returncode == 2
    assert message in result.stderr
