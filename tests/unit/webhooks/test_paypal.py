"""PayPal signatures with keys and certificates made here; the certificate host allow-list;
the certificate cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from resilience.errors import CertificateUnavailable, PayloadInvalid, SignatureInvalid
from resilience.webhooks.paypal import CertificateStore, PayPalVerifier, sign
from resilience.webhooks.testing import FakeProvider, PayPalIdentity, paypal_event, paypal_identity

WEBHOOK_ID = "WH-ID-123"
CERT_URL = "https://api.paypal.com/certs/paypal.pem"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BODY = paypal_event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP-1", "custom_id": "7"}, event_id="WH-1")


@pytest.fixture(scope="module")
def identity() -> PayPalIdentity:
    return paypal_identity(valid_from=NOW - timedelta(days=1), valid_days=30)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(
    identity: PayPalIdentity,
    *,
    fake: FakeProvider | None = None,
    clock: Clock | None = None,
    now: datetime = NOW,
    **store_options: object,
) -> tuple[PayPalVerifier, FakeProvider]:
    fake = fake or FakeProvider(certificate_pem=identity.pem)
    store = CertificateStore(
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        clock=clock or Clock(),
        now=lambda: now,
        **store_options,  # type: ignore[arg-type]
    )
    return PayPalVerifier(WEBHOOK_ID, store, clock=lambda: now.timestamp()), fake


def headers(identity: PayPalIdentity, body: bytes = BODY, **overrides: str) -> dict[str, str]:
    signed = sign(
        body,
        identity.private_key,
        webhook_id=overrides.pop("webhook_id", WEBHOOK_ID),
        cert_url=overrides.pop("cert_url", CERT_URL),
        transmission_id="T-1",
        transmission_time=overrides.pop("time", NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    signed.update(overrides)
    return {k.lower(): v for k, v in signed.items()}


def test_signed_delivery_verifies(identity: PayPalIdentity) -> None:
    verifier, fake = make(identity)
    delivery = verifier.verify(BODY, headers(identity))
    assert (delivery.event_id, delivery.event_type) == ("WH-1", "PAYMENT.CAPTURE.COMPLETED")
    assert fake.cert_fetches == 1


def test_certificate_is_cached_for_its_ttl(identity: PayPalIdentity) -> None:
    clock = Clock()
    verifier, fake = make(identity, clock=clock, ttl_s=60)
    for _ in range(3):
        verifier.verify(BODY, headers(identity))
    assert fake.cert_fetches == 1
    clock.t = 61
    verifier.verify(BODY, headers(identity))
    assert fake.cert_fetches == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://paypal.com.evil.example/cert.pem",
        "https://evil.example/api.paypal.com/cert.pem",
        "http://api.paypal.com/certs/paypal.pem",
        "file:///etc/passwd",
    ],
)
def test_certificates_only_from_allowed_hosts(identity: PayPalIdentity, url: str) -> None:
    verifier, fake = make(identity)
    with pytest.raises(SignatureInvalid) as info:
        verifier.verify(BODY, headers(identity, cert_url=url))
    assert info.value.reason == "untrusted_cert_url"
    assert fake.cert_fetches == 0  # refused before any request


def test_allow_list_and_http_are_configurable_for_local_servers(identity: PayPalIdentity) -> None:
    verifier, _ = make(identity, allowed_hosts=["127.0.0.1"], allow_http=True)
    local = "http://127.0.0.1:9/certs/paypal.pem"
    assert verifier.verify(BODY, headers(identity, cert_url=local)).event_id == "WH-1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook_id": "WH-OTHER"}, "bad_signature"),
        ({"PAYPAL-TRANSMISSION-ID": "T-2"}, "bad_signature"),
        ({"PAYPAL-TRANSMISSION-SIG": "!!!"}, "malformed_signature"),
        ({"PAYPAL-AUTH-ALGO": "SHA1withRSA"}, "malformed_signature"),
        ({"PAYPAL-TRANSMISSION-TIME": "yesterday"}, "malformed_signature"),
        ({"PAYPAL-TRANSMISSION-SIG": ""}, "missing_signature"),
        (
            {"time": (NOW - timedelta(seconds=301)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "stale_timestamp",
        ),
    ],
)
def test_bad_deliveries_are_refused(
    identity: PayPalIdentity, change: dict[str, str], reason: str
) -> None:
    verifier, _ = make(identity)
    with pytest.raises(SignatureInvalid) as info:
        verifier.verify(BODY, headers(identity, **change))
    assert info.value.reason == reason


def test_tampered_body_and_foreign_key_fail(identity: PayPalIdentity) -> None:
    verifier, _ = make(identity)
    with pytest.raises(SignatureInvalid, match="bad_signature"):
        verifier.verify(BODY.replace(b"CAP-1", b"CAP-2"), headers(identity))
    stranger = paypal_identity()
    with pytest.raises(SignatureInvalid, match="bad_signature"):
        verifier.verify(BODY, headers(stranger))


def test_expired_certificate_is_refused(identity: PayPalIdentity) -> None:
    later = NOW + timedelta(days=40)
    verifier, _ = make(identity, now=later)
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(SignatureInvalid, match="expired_certificate"):
        verifier.verify(BODY, headers(identity, time=stamp))


def test_unreachable_certificate_is_transient(identity: PayPalIdentity) -> None:
    verifier, _ = make(identity, fake=FakeProvider(certificate_pem=None))
    with pytest.raises(CertificateUnavailable) as info:
        verifier.verify(BODY, headers(identity))
    assert info.value.http_status == 503


def test_signed_but_malformed_body(identity: PayPalIdentity) -> None:
    verifier, _ = make(identity)
    body = b'{"id": "WH-2"}'
    with pytest.raises(PayloadInvalid, match="event_type"):
        verifier.verify(body, headers(identity, body))
