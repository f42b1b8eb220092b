"""The harness's fakes: seeded provider failure schedules and provider-like webhook deliveries
(whose signatures the official Stripe library accepts)."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import httpx
import pytest
import stripe

from harness.fakes.provider import Schedule, serve
from harness.fakes.webhooks import plan_deliveries, stripe_signature
from harness.provision.process import free_port

EVENTS = [
    {"id": "evt_a", "type": "payment_intent.succeeded", "object": {"id": "pi_a"}},
    {"id": "evt_b", "type": "payment_intent.succeeded", "object": {"id": "pi_b"}},
]


def test_pattern_schedules_cycle_and_count() -> None:
    schedule = Schedule(seed=1)
    schedule.configure({"pattern": "EEO"})
    assert [schedule.next() for _ in range(6)] == list("EEOEEO")
    assert schedule.stats == {"calls": 6, "ok": 2, "errors": 4, "timeouts": 0}


def test_rate_schedules_repeat_with_the_seed() -> None:
    def draw(seed: int) -> list[str]:
        schedule = Schedule(seed)
        schedule.configure({"rate": 0.3})
        return [schedule.next() for _ in range(200)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert 40 <= draw(7).count("E") <= 80


@pytest.mark.parametrize("config", [{"rate": 1.5}, {"pattern": "EX"}])
def test_bad_schedules_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"rate must be within 0\.\.1"):
        Schedule(0).configure(config)


def test_fake_provider_over_http() -> None:
    port = free_port()
    server = serve(port, seed=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/v1/payment_intents/pi_1").json() == {
            "id": "pi_1",
            "status": "succeeded",
        }
        assert httpx.post(f"{base}/_fake/config", json={"pattern": "E"}).status_code == 200
        assert httpx.get(f"{base}/v2/payments/captures/C1").status_code == 500
        assert httpx.post(f"{base}/_fake/config", json={"rate": 2}).status_code == 400
        assert httpx.get(f"{base}/_fake/stats").json() == {
            "calls": 2,
            "ok": 1,
            "errors": 1,
            "timeouts": 0,
        }
        assert httpx.post(f"{base}/_fake/config", json={}).status_code == 200
        assert httpx.get(f"{base}/v2/payments/refunds/R1").json()["status"] == "COMPLETED"
        assert httpx.post(f"{base}/_fake/statuses", json={"C 2": "DECLINED"}).status_code == 200
        assert httpx.get(f"{base}/v2/payments/captures/C%202").json() == {
            "id": "C 2",
            "status": "DECLINED",
        }
        for bad in (b"[1]", b"{", b'{"C3": 4}'):
            assert httpx.post(f"{base}/_fake/statuses", content=bad).status_code == 400
    finally:
        server.shutdown()
        server.server_close()


def test_deliveries_repeat_resign_forge_and_shuffle_reproducibly() -> None:
    def plan(**kwargs: object) -> list[object]:
        options: dict[str, object] = dict(copies=3, resign=True, shuffle=False, bad_signatures=0)
        options.update(kwargs)
        return plan_deliveries(
            EVENTS, secret="whsec_x", rng=random.Random(5), now=1_800_000_000, **options
        )  # type: ignore[arg-type]

    resigned = plan()
    assert [(d.event_id, d.attempt, d.kind) for d in resigned][:3] == [
        ("evt_a", 1, "first"),
        ("evt_a", 2, "resigned"),
        ("evt_a", 3, "resigned"),
    ]
    assert len({d.signature for d in resigned}) == 6  # every retry signed anew
    repeated = plan(resign=False)
    assert len({d.signature for d in repeated}) == 2  # the very same request again
    forged = plan(bad_signatures=2)
    assert [d.kind for d in forged].count("bad_signature") == 2
    assert plan(shuffle=True) == plan(shuffle=True)  # same seed, same order
    assert [d.event_id for d in plan(shuffle=True)] != [d.event_id for d in resigned]


def test_signatures_verify_with_the_official_stripe_library() -> None:
    good, forged = plan_deliveries(
        EVENTS[:1],
        secret="whsec_x",
        copies=1,
        resign=True,
        shuffle=False,
        bad_signatures=1,
        rng=random.Random(0),
    )
    assert stripe.Webhook.construct_event(good.body, good.signature, "whsec_x")["id"] == "evt_a"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(forged.body, forged.signature, "whsec_x")
    body = json.dumps({"id": "evt_z", "type": "t"}).encode()
    header = stripe_signature(body, "whsec_x", 1_800_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_x", timestamp=1_800_000_000
    )


def test_paypal_deliveries_verify_with_the_shops_verifier(tmp_path: Path) -> None:
    # The harness never imports the system; its tests may check the two agree.
    from harness.fakes.identity import load_key, signing_identity
    from harness.fakes.webhooks import PayPalSigner
    from resilience.webhooks.paypal import CertificateStore, PayPalVerifier, load_roots

    identity = signing_identity(tmp_path)
    url = "http://127.0.0.1:9/_fake/paypal-cert.pem"
    signer = PayPalSigner(load_key(identity.key), url, "WH-1")
    events = [{"id": "WH-EVT-1", "type": "PAYMENT.CAPTURE.COMPLETED", "object": {"id": "C1"}}]
    plan = plan_deliveries(
        events,
        paypal=signer,
        copies=2,
        resign=True,
        shuffle=False,
        bad_signatures=1,
        rng=random.Random(0),
    )
    pem = identity.cert.read_bytes()
    store = CertificateStore(
        allowed_hosts=["127.0.0.1"],
        allow_http=True,
        roots=load_roots(identity.root.read_bytes()),  # the shop trusts the fake's root only
        client=httpx.Client(
            transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=pem))
        ),
    )
    verifier = PayPalVerifier("WH-1", store)
    for delivery in plan:
        headers = {k.lower(): v for k, v in delivery.headers.items()}
        if delivery.kind == "bad_signature":
            with pytest.raises(Exception, match="bad_signature"):
                verifier.verify(delivery.body, headers)
        else:
            assert verifier.verify(delivery.body, headers).event_id == "WH-EVT-1"
    assert plan[0].signature != plan[1].signature  # the retry was signed anew


@pytest.mark.parametrize("scheme", ["v1", "v1a", "both"])
def test_standard_webhooks_deliveries_verify_with_the_library_and_the_shops_verifier(
    scheme: str,
) -> None:
    import base64

    import standardwebhooks
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from harness.fakes.webhooks import StandardSigner
    from resilience.webhooks.standard import StandardVerifier

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    key = Ed25519PrivateKey.generate()
    signing_key = "whsk_" + base64.b64encode(key.private_bytes_raw()).decode()
    public = "whpk_" + base64.b64encode(key.public_key().public_bytes_raw()).decode()
    signer = StandardSigner(
        secret if scheme != "v1a" else None, signing_key if scheme != "v1" else None
    )
    events = [{"id": "msg_1", "type": "payment.succeeded", "object": {"order_id": 3}}]
    plan = plan_deliveries(
        events, standard=signer, copies=3, resign=True, shuffle=True, bad_signatures=2,
        rng=random.Random(1),
    )  # fmt: skip
    verifier = StandardVerifier(
        [secret] if scheme != "v1a" else [], [public] if scheme != "v1" else []
    )
    library = standardwebhooks.Webhook(secret)
    kinds = [d.kind for d in plan]
    assert sorted(kinds) == ["bad_signature"] * 2 + ["first"] + ["resigned"] * 2
    for delivery in plan:
        if delivery.kind == "bad_signature":
            with pytest.raises(Exception, match="no v1 or v1a signature matches"):
                verifier.verify(delivery.body, delivery.headers)
            with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
                library.verify(delivery.body, delivery.headers)
            continue
        verified = verifier.verify(delivery.body, delivery.headers)
        assert (verified.event_id, verified.event_type) == ("msg_1", "payment.succeeded")
        assert json.loads(delivery.body)["data"] == {"order_id": 3}
        if scheme != "v1a":  # the library knows v1 only
            assert library.verify(delivery.body, delivery.headers)["type"] == "payment.succeeded"
    assert len({d.signature for d in plan}) == len(plan)  # every retry and forgery signed anew
