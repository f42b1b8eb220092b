"""Webhooks through the shop's HTTP API: intake, dedup, effects applied by a worker, and bad input.
SQLite, StubBroker, in-memory stores, a fake provider; tests/integration repeats the important
flows on PostgreSQL, Redis and a real HTTP provider."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from resilience.shop import ShopContext
from resilience.shop.models import Payment, Refund
from resilience.webhooks import paypal as paypal_sig
from resilience.webhooks import stripe as stripe_sig
from resilience.webhooks.models import WebhookEvent, WebhookFailure
from resilience.webhooks.testing import FakeProvider, PayPalIdentity, paypal_event, stripe_event
from tests.unit.shop.conftest import (
    ADMIN,
    PAYPAL_CERT_URL,
    PAYPAL_WEBHOOK_ID,
    STRIPE_SECRET,
    drain,
)


def count(ctx: ShopContext, model: Any) -> int:
    with ctx.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def new_order(client: TestClient, quantity: int = 2, price: int = 1500) -> int:
    sku = f"SKU-{count_products(client)}"
    product = client.post(
        "/admin/products",
        headers=ADMIN,
        json={"sku": sku, "name": "Lamp", "price_cents": price, "stock": 100},
    ).json()["id"]
    order = client.post("/orders", json={"lines": [{"product_id": product, "quantity": quantity}]})
    order_id: int = order.json()["id"]
    return order_id


def count_products(client: TestClient) -> int:
    return len(client.get("/products").json())


def stripe_intent(event_type: str, order_id: int, ref: str, event_id: str | None = None) -> bytes:
    return stripe_event(
        event_type,
        {
            "id": ref,
            "object": "payment_intent",
            "metadata": {"order_id": str(order_id)},
            "payment_method_types": ["card"],
        },
        event_id=event_id,
    )


def send_stripe(client: TestClient, body: bytes, *, timestamp: int | None = None) -> Any:
    header = stripe_sig.sign(body, STRIPE_SECRET, timestamp=timestamp)
    return client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})


def send_paypal(client: TestClient, identity: PayPalIdentity, body: bytes, tid: str = "T1") -> Any:
    headers = paypal_sig.sign(
        body,
        identity.private_key,
        webhook_id=PAYPAL_WEBHOOK_ID,
        cert_url=PAYPAL_CERT_URL,
        transmission_id=tid,
    )
    return client.post("/webhooks/paypal", content=body, headers=headers)


def test_stripe_success_is_acknowledged_then_applied_by_a_job(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker, provider: FakeProvider
) -> None:
    order_id = new_order(client)
    r = send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_A", "evt_A"))
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    drain(ctx, worker)
    assert client.get(f"/orders/{order_id}").json()["status"] == "fulfilled"
    assert provider.calls == 1  # confirmed with the provider's API
    with ctx.sessions() as s:
        event = s.scalars(select(WebhookEvent)).one()
    assert (event.status, event.note) == ("processed", f"order {order_id} is paid")
    # The provider's payment is a critical action too: audited, by the webhook processor.
    with ctx.sessions() as s:
        (entry,) = ctx.audit.entries(s, entity=("Order", str(order_id)), action="payment_recorded")
    assert entry.user_id == "system:webhooks"
    assert entry.before is not None and entry.before["status"] == "pending"
    assert entry.after is not None and entry.after["status"] == "paid"
    assert entry.metadata["provider_ref"] == "pi_A"


def test_ten_deliveries_same_and_resigned_have_one_effect(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    order_id = new_order(client)
    body = stripe_intent("payment_intent.succeeded", order_id, "pi_B", "evt_B")
    now = int(time.time())
    header = stripe_sig.sign(body, STRIPE_SECRET, timestamp=now)
    outcomes = []
    for i in range(10):
        if i < 5:  # the very same request: stopped by the anti-loop cache
            r = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
        else:  # re-signed later by the provider: stopped by the inbox
            r = send_stripe(client, body, timestamp=now + i)
        assert r.status_code == 200
        outcomes.append((r.json()["status"], r.json()["duplicate_of"]))
    assert outcomes[0] == ("accepted", None)
    assert outcomes[1:5] == [("duplicate", "cache")] * 4
    assert outcomes[5:] == [("duplicate", "inbox")] * 5
    drain(ctx, worker)
    assert count(ctx, WebhookEvent) == 1
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).where(Payment.order_id == order_id)) == 1
    assert client.get(f"/orders/{order_id}").json()["status"] == "fulfilled"
    assert ctx.metrics.dedup_hit_rate(3600, "stripe") == pytest.approx(4 / 10)


def test_refund_before_payment_waits_for_it(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    order_id = new_order(client, quantity=1, price=2000)
    refund = stripe_event(
        "charge.refunded",
        {
            "id": "ch_C",
            "object": "charge",
            "amount_refunded": 2000,
            "metadata": {"order_id": str(order_id)},
        },
        event_id="evt_C_refund",
    )
    assert send_stripe(client, refund).json()["status"] == "accepted"
    drain(ctx, worker)  # every retry runs: the payment never came within the attempts
    with ctx.sessions() as s:
        waiting = s.scalars(select(WebhookEvent)).one()
    assert (waiting.status, waiting.attempts) == ("dead", ctx.settings.webhook_max_attempts)
    assert "arrived before its payment" in (waiting.last_error or "")
    assert client.get(f"/orders/{order_id}").json()["refunded_cents"] == 0

    send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_C", "evt_C_pay"))
    drain(ctx, worker)
    assert [f.event_id for f in ctx.processor.replay(actor="test")] == ["evt_C_refund"]
    drain(ctx, worker)
    order = client.get(f"/orders/{order_id}").json()
    assert (order["status"], order["refunded_cents"]) == ("refunded", 2000)
    # The refund total arriving again (a later charge.refunded) changes nothing.
    again = stripe_event(
        "charge.refunded",
        {
            "id": "ch_C",
            "object": "charge",
            "amount_refunded": 2000,
            "metadata": {"order_id": str(order_id)},
        },
        event_id="evt_C_refund_2",
    )
    send_stripe(client, again)
    drain(ctx, worker)
    assert count(ctx, Refund) == 1


def test_late_failure_after_success_never_corrupts_the_order(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    order_id = new_order(client)
    send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_D", "evt_D1"))
    drain(ctx, worker)
    send_stripe(client, stripe_intent("payment_intent.payment_failed", order_id, "pi_D", "evt_D2"))
    drain(ctx, worker)
    assert client.get(f"/orders/{order_id}").json()["status"] == "fulfilled"
    with ctx.sessions() as s:
        late = s.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "evt_D2"))
    assert late is not None
    assert late.status == "processed"
    assert "late payment failure ignored" in (late.note or "")


def test_second_charge_is_recorded_for_review_not_applied(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    order_id = new_order(client)
    send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_E1", "evt_E1"))
    drain(ctx, worker)
    send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_E2", "evt_E2"))
    drain(ctx, worker)
    assert client.get(f"/orders/{order_id}").json()["status"] == "fulfilled"
    with ctx.sessions() as s:
        note = s.scalar(select(WebhookEvent.note).where(WebhookEvent.event_id == "evt_E2"))
        payments = s.scalar(select(func.count()).where(Payment.order_id == order_id))
    assert "possible double charge" in (note or "")
    assert payments == 2


def test_paypal_capture_and_partial_refund(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker, paypal: PayPalIdentity
) -> None:
    order_id = new_order(client, quantity=2, price=1250)
    capture = paypal_event(
        "PAYMENT.CAPTURE.COMPLETED", {"id": "CAP-9", "custom_id": str(order_id)}, event_id="WH-9"
    )
    assert send_paypal(client, paypal, capture).json()["status"] == "accepted"
    refund = paypal_event(
        "PAYMENT.CAPTURE.REFUNDED",
        {"id": "REF-9", "custom_id": str(order_id), "amount": {"value": "12.50"}},
        event_id="WH-10",
    )
    drain(ctx, worker)
    send_paypal(client, paypal, refund, tid="T2")
    send_paypal(client, paypal, refund, tid="T3")  # re-sent: same event id
    drain(ctx, worker)
    order = client.get(f"/orders/{order_id}").json()
    assert (order["status"], order["refunded_cents"]) == ("partially_refunded", 1250)


@pytest.mark.parametrize(
    ("event_type", "resource", "api_says", "untouched"),
    [
        # Each a forged PayPal event (CRC32 collides, signature genuine): the API knows better.
        ("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP-F1"}, {"CAP-F1": "DECLINED"}, "pending"),
        ("PAYMENT.CAPTURE.DENIED", {"id": "CAP-F2"}, {"CAP-F2": "COMPLETED"}, "pending"),
    ],
    ids=["capture-declined-at-paypal", "denial-of-a-completed-capture"],
)
def test_paypal_events_paypal_does_not_confirm_are_never_applied(
    client: TestClient,
    ctx: ShopContext,
    worker: dramatiq.Worker,
    paypal: PayPalIdentity,
    provider: FakeProvider,
    event_type: str,
    resource: dict[str, str],
    api_says: dict[str, str],
    untouched: str,
) -> None:
    order_id = new_order(client)
    provider.statuses.update(api_says)
    event = paypal_event(event_type, {**resource, "custom_id": str(order_id)}, event_id="WH-F")
    assert send_paypal(client, paypal, event).json()["status"] == "accepted"
    drain(ctx, worker)
    assert client.get(f"/orders/{order_id}").json()["status"] == untouched
    failures = ctx.processor.failures()
    assert [f.event_id for f in failures] == ["WH-F"]
    assert f"as {next(iter(api_says.values()))!r}" in failures[0].error_message


def test_a_paypal_refund_paypal_does_not_report_is_never_applied(
    client: TestClient,
    ctx: ShopContext,
    worker: dramatiq.Worker,
    paypal: PayPalIdentity,
    provider: FakeProvider,
) -> None:
    order_id = new_order(client, quantity=2, price=1250)
    capture = paypal_event(
        "PAYMENT.CAPTURE.COMPLETED", {"id": "CAP-R", "custom_id": str(order_id)}, event_id="WH-C"
    )
    send_paypal(client, paypal, capture)
    drain(ctx, worker)
    provider.statuses["REF-FORGED"] = "FAILED"
    refund = paypal_event(
        "PAYMENT.CAPTURE.REFUNDED",
        {"id": "REF-FORGED", "custom_id": str(order_id), "amount": {"value": "12.50"}},
        event_id="WH-R",
    )
    send_paypal(client, paypal, refund, tid="T2")
    drain(ctx, worker)
    order = client.get(f"/orders/{order_id}").json()
    assert (order["status"], order["refunded_cents"]) == ("fulfilled", 0)
    assert "refund REF-FORGED as 'FAILED'" in ctx.processor.failures()[0].error_message


def test_provider_api_failures_exhaust_into_a_dead_letter_then_replay(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker, provider: FakeProvider
) -> None:
    provider.failure_rate = 1.0
    order_id = new_order(client)
    send_stripe(client, stripe_intent("payment_intent.succeeded", order_id, "pi_F", "evt_F"))
    drain(ctx, worker)
    failures = ctx.processor.failures()
    assert [f.event_id for f in failures] == ["evt_F"]
    assert "ProviderApiError" in failures[0].error_message
    attempts = ctx.settings.webhook_max_attempts * ctx.settings.provider_api_attempts
    assert provider.calls == attempts
    assert client.get(f"/orders/{order_id}").json()["status"] == "pending"

    provider.failure_rate = 0.0
    replayed = ctx.processor.replay(actor="oncall@example.com")
    assert [f.retry_count for f in replayed] == [1]
    drain(ctx, worker)
    assert client.get(f"/orders/{order_id}").json()["status"] == "fulfilled"
    assert ctx.processor.failures() == []
    with ctx.sessions() as s:
        row = s.scalars(select(WebhookFailure)).one()
    assert (row.retry_count, row.replayed_by) == (1, "oncall@example.com")
    assert row.resolved_at is not None
    # Replaying again finds nothing to do.
    assert ctx.processor.replay(actor="oncall@example.com") == []


def test_unknown_but_verified_types_are_acknowledged_and_ignored(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    body = stripe_event("customer.created", {"id": "cus_1"}, event_id="evt_G")
    assert send_stripe(client, body).json()["status"] == "accepted"
    drain(ctx, worker)
    with ctx.sessions() as s:
        assert s.scalar(select(WebhookEvent.status)) == "ignored"


def test_an_event_without_an_order_is_dead_lettered_at_once(
    client: TestClient, ctx: ShopContext, worker: dramatiq.Worker
) -> None:
    body = stripe_event("payment_intent.succeeded", {"id": "pi_H"}, event_id="evt_H")
    send_stripe(client, body)
    drain(ctx, worker)
    (failure,) = ctx.processor.failures()
    assert "metadata.order_id" in failure.error_message
    with ctx.sessions() as s:
        assert s.scalar(select(WebhookEvent.attempts)) == 1


# -- bad input: 4xx with a reason, nothing stored, no secret in the answer -------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"id": "evt_x", "type": "t"}', {}, 400, "missing_signature"),
        (b'{"id": "evt_x", "type": "t"}', {"Stripe-Signature": "t=1"}, 400, "malformed_signature"),
        (b'{"id": "evt_x", "type": "t"}', {"Stripe-Signature": "sign:wrong"}, 400, "bad_signature"),
        (
            b'{"id": "evt_x", "type": "t"}',
            {"Stripe-Signature": "sign:stale"},
            400,
            "stale_timestamp",
        ),
        (b"{broken json", {"Stripe-Signature": "sign"}, 400, "malformed_json"),
        (b'{"type": "t"}', {"Stripe-Signature": "sign"}, 400, "malformed_event"),
        (b"x" * (1 << 20 + 1), {"Stripe-Signature": "sign"}, 413, "body_too_large"),
    ],
)
def test_bad_deliveries_store_nothing(
    client: TestClient,
    ctx: ShopContext,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    signature = headers.get("Stripe-Signature", "")
    if signature == "sign":
        headers = {"Stripe-Signature": stripe_sig.sign(body, STRIPE_SECRET)}
    elif signature == "sign:wrong":
        headers = {"Stripe-Signature": stripe_sig.sign(body, "whsec_wrong")}
    elif signature == "sign:stale":
        old = int(time.time()) - 3600
        headers = {"Stripe-Signature": stripe_sig.sign(body, STRIPE_SECRET, timestamp=old)}
    r = client.post("/webhooks/stripe", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert STRIPE_SECRET not in r.text
    assert STRIPE_SECRET not in caplog.text
    assert code in caplog.text  # the rejection is logged, with its reason
    assert count(ctx, WebhookEvent) == 0
    assert ctx.metrics.totals()[("rejected", "stripe", code)] == 1


def test_unconfigured_provider_is_404_naming_the_setting(client: TestClient) -> None:
    r = client.post("/webhooks/adyen", content=b"{}")
    assert r.status_code == 404
    assert "SHOP_STRIPE_WEBHOOK_SECRETS" in r.json()["error"]["message"]


def test_metrics_endpoint_counts_by_provider(client: TestClient, ctx: ShopContext) -> None:
    order_id = new_order(client)
    body = stripe_intent("payment_intent.succeeded", order_id, "pi_M", "evt_M")
    header = stripe_sig.sign(body, STRIPE_SECRET)
    for _ in range(2):
        client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=1,v1=00"})
    text = client.get("/metrics").text
    for line in (
        'webhooks_received_total{provider="stripe"} 3.0',
        'webhooks_verified_total{provider="stripe"} 2.0',
        'webhooks_duplicates_total{provider="stripe",reason="cache"} 1.0',
        'webhooks_rejected_total{provider="stripe",reason="stale_timestamp"} 1.0',
        'webhooks_accepted_total{provider="stripe"} 1.0',
        'webhooks_dedup_hit_rate{provider="stripe"} 0.5',
    ):
        assert line in text
    assert json.dumps(STRIPE_SECRET) not in text


POISON = {
    "utf-16 with BOM": json.dumps({"id": "evt_u16", "type": "x.y"}).encode("utf-16"),
    "nested 100,000 deep": b'{"id":"evt_deep","type":"x.y","d":'
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    "a 5,000-digit integer": b'{"id":"evt_big","type":"x.y","n":' + b"9" * 5000 + b"}",
    "a lone surrogate in the id": b'{"id":"evt_\\ud800","type":"x.y"}',
    "an id of 300 characters": json.dumps({"id": "e" * 300, "type": "x.y"}).encode(),
    "a newline in the id": json.dumps({"id": "evt_1\nFORGED log line", "type": "x.y"}).encode(),
}


@pytest.mark.parametrize("body", POISON.values(), ids=POISON.keys())
def test_signed_poison_bodies_are_refused_and_store_nothing(
    client: TestClient, ctx: ShopContext, body: bytes
) -> None:
    r = send_stripe(client, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("malformed_json", "malformed_event")
    assert count(ctx, WebhookEvent) == 0


def test_a_non_ascii_v1_signature_is_a_400_not_a_500(client: TestClient) -> None:
    body = stripe_event("payment_intent.succeeded", {"id": "pi_1"})
    header = f"t={int(time.time())},v1=\u00e9\u00e9".encode()  # raw UTF-8 bytes on the wire
    r = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed_signature")
