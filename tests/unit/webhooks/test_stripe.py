"""Stripe signatures: our signer and verifier, and compatibility with the official library."""

from __future__ import annotations

import json

import pytest
import stripe

from resilience.errors import PayloadInvalid, SignatureInvalid
from resilience.webhooks.stripe import StripeVerifier, sign
from resilience.webhooks.testing import stripe_event

SECRET = "whsec_test_secret_A"
NEW_SECRET = "whsec_test_secret_B"
NOW = 1_800_000_000
BODY = stripe_event("payment_intent.succeeded", {"id": "pi_1"}, event_id="evt_1")


def verifier(*secrets: str, tolerance_s: float = 300) -> StripeVerifier:
    return StripeVerifier(list(secrets) or [SECRET], tolerance_s=tolerance_s, clock=lambda: NOW)


def test_signed_delivery_verifies_and_parses() -> None:
    delivery = verifier().verify(BODY, {"stripe-signature": sign(BODY, SECRET, timestamp=NOW)})
    assert (delivery.provider, delivery.event_id, delivery.event_type) == (
        "stripe",
        "evt_1",
        "payment_intent.succeeded",
    )
    assert delivery.payload == BODY
    assert delivery.signed_at.timestamp() == NOW


def test_official_library_accepts_what_we_sign() -> None:
    header = sign(BODY, SECRET)
    event = stripe.Webhook.construct_event(BODY, header, SECRET)
    assert event["id"] == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(BODY + b" ", header, SECRET)


def test_we_accept_what_the_official_library_signs() -> None:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=NOW)
    assert verifier().verify(BODY, {"stripe-signature": header}).event_id == "evt_1"


def test_secret_rotation_either_side() -> None:
    # Stripe signs with both secrets during a rotation; we may know only the new one...
    both = sign(BODY, [SECRET, NEW_SECRET], timestamp=NOW)
    assert verifier(NEW_SECRET).verify(BODY, {"stripe-signature": both})
    # ...or we hold both while Stripe has already moved to the new one.
    only_new = sign(BODY, NEW_SECRET, timestamp=NOW)
    assert verifier(SECRET, NEW_SECRET).verify(BODY, {"stripe-signature": only_new})


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v1=abc", "malformed_signature"),
        (f"t={NOW}", "malformed_signature"),
        ("t=yesterday,v1=abc", "malformed_signature"),
        (f"t={NOW},v1=" + "0" * 64, "bad_signature"),
        (sign(BODY, "whsec_someone_else", timestamp=NOW), "bad_signature"),
        (sign(BODY, SECRET, timestamp=NOW - 301), "stale_timestamp"),
        (sign(BODY, SECRET, timestamp=NOW + 301), "stale_timestamp"),
    ],
    # Named, not derived from the headers: BODY carries the time it was made, so ids taken
    # from its signatures would differ between pytest-xdist workers' collections.
    ids=[
        "no-header",
        "empty",
        "no-timestamp",
        "no-signature",
        "timestamp-not-a-number",
        "zeros",
        "another-secret",
        "301-s-old",
        "301-s-early",
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header: str | None, reason: str) -> None:
    headers = {} if header is None else {"stripe-signature": header}
    with pytest.raises(SignatureInvalid) as info:
        verifier().verify(BODY, headers)
    assert info.value.reason == reason
    assert SECRET not in str(info.value)


def test_tolerance_is_inclusive_and_configurable() -> None:
    assert verifier().verify(BODY, {"stripe-signature": sign(BODY, SECRET, timestamp=NOW - 300)})
    with pytest.raises(SignatureInvalid, match="tolerance is 5 s"):
        verifier(tolerance_s=5).verify(
            BODY, {"stripe-signature": sign(BODY, SECRET, timestamp=NOW - 6)}
        )


def test_a_tampered_body_fails() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    tampered = BODY.replace(b"pi_1", b"pi_2")
    with pytest.raises(SignatureInvalid, match="bad_signature"):
        verifier().verify(tampered, {"stripe-signature": header})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "malformed_event"),
        (json.dumps({"id": "evt_1"}).encode(), "malformed_event"),
        (json.dumps({"id": "", "type": "x"}).encode(), "malformed_event"),
    ],
)
def test_signed_but_malformed_bodies_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as info:
        verifier().verify(body, {"stripe-signature": sign(body, SECRET, timestamp=NOW)})
    assert info.value.reason == reason


def test_a_verifier_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="signing secret"):
        StripeVerifier([])
