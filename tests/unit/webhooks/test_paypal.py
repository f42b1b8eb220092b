"""PayPal signatures with keys and certificates made here; the certificate host allow-list;
the certificate's chain and name; the certificate cache against hostile URLs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    store_options.setdefault("roots", [identity.root])
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


# --- the certificate must be PayPal's, from a trusted issuer -----------------------------


def test_a_self_signed_certificate_on_an_allowed_host_is_not_trusted() -> None:
    # Any PEM an attacker can place on an allowed host used to be trusted.
    attacker = paypal_identity(valid_from=NOW - timedelta(days=1))
    genuine = paypal_identity(valid_from=NOW - timedelta(days=1))
    verifier, _ = make(attacker, roots=[genuine.root])
    with pytest.raises(SignatureInvalid) as info:
        verifier.verify(BODY, headers(attacker))
    assert info.value.reason == "untrusted_certificate"
    assert "trusted issuer" in str(info.value)


def test_a_trusted_certificate_for_another_name_is_refused() -> None:
    other = paypal_identity("www.paypal.com", valid_from=NOW - timedelta(days=1))
    verifier, _ = make(other, roots=[other.root])
    with pytest.raises(SignatureInvalid, match="untrusted_certificate"):
        verifier.verify(BODY, headers(other))
    same_root_checker, _ = make(other, roots=[other.root], subject="www.paypal.com")
    assert same_root_checker.verify(BODY, headers(other)).event_id == "WH-1"


def test_the_default_trust_anchors_are_public_cas(identity: PayPalIdentity) -> None:
    verifier, _ = make(identity, roots=None)  # the certifi bundle
    with pytest.raises(SignatureInvalid, match="untrusted_certificate"):
        verifier.verify(BODY, headers(identity))


# --- a cache shaped against hostile URLs --------------------------------------------------


@pytest.mark.parametrize(
    "suffix", ["?v=1", "?", "#frag", "%0a"], ids=["query", "empty-query", "fragment", "newline"]
)
def test_url_variants_are_refused_before_any_fetch(identity: PayPalIdentity, suffix: str) -> None:
    verifier, fake = make(identity)
    url = CERT_URL + suffix if suffix != "%0a" else CERT_URL + "\n"
    with pytest.raises(SignatureInvalid, match="untrusted_cert_url"):
        verifier.verify(BODY, headers(identity, cert_url=url))
    assert fake.cert_fetches == 0


def test_user_part_is_refused(identity: PayPalIdentity) -> None:
    verifier, fake = make(identity)
    url = "https://me@api.paypal.com/certs/paypal.pem"
    with pytest.raises(SignatureInvalid, match="untrusted_cert_url"):
        verifier.verify(BODY, headers(identity, cert_url=url))
    assert fake.cert_fetches == 0


def test_host_case_is_one_cache_entry(identity: PayPalIdentity) -> None:
    verifier, fake = make(identity)
    verifier.verify(BODY, headers(identity))
    verifier.verify(BODY, headers(identity, cert_url=CERT_URL.replace("api.paypal", "API.PayPal")))
    assert fake.cert_fetches == 1


def test_cache_is_bounded_least_recently_used_first(identity: PayPalIdentity) -> None:
    served = FakeServingAnyPath(identity.pem)
    store = CertificateStore(
        roots=[identity.root],
        cache_size=2,
        client=httpx.Client(transport=httpx.MockTransport(served)),
        clock=Clock(),
        now=lambda: NOW,
    )
    a, b, c = (f"https://api.paypal.com/certs/{n}.pem" for n in "abc")
    for url in (a, b, a, c):  # c evicts b, the least recently used
        store.public_key(url)
    assert served.paths == ["/certs/a.pem", "/certs/b.pem", "/certs/c.pem"]
    store.public_key(a)
    store.public_key(b)
    assert served.paths[-1] == "/certs/b.pem" and len(served.paths) == 4


def test_failures_are_remembered_for_their_ttl(identity: PayPalIdentity) -> None:
    clock = Clock()
    verifier, fake = make(
        identity, fake=FakeProvider(certificate_pem=b"not a certificate"), clock=clock
    )
    for _ in range(5):
        with pytest.raises(SignatureInvalid, match="bad_certificate"):
            verifier.verify(BODY, headers(identity))
    assert fake.cert_fetches == 1
    clock.t = 61  # the default failure TTL is 60 s
    with pytest.raises(SignatureInvalid, match="bad_certificate"):
        verifier.verify(BODY, headers(identity))
    assert fake.cert_fetches == 2


def test_unreachable_is_remembered_too_and_stays_transient(identity: PayPalIdentity) -> None:
    verifier, fake = make(identity, fake=FakeProvider(certificate_pem=None), failure_ttl_s=30)
    for _ in range(3):
        with pytest.raises(CertificateUnavailable) as info:
            verifier.verify(BODY, headers(identity))
        assert info.value.http_status == 503
    assert fake.cert_fetches == 1


def test_fetches_a_minute_are_limited(identity: PayPalIdentity) -> None:
    served = FakeServingAnyPath(identity.pem)
    clock = Clock()
    store = CertificateStore(
        roots=[identity.root],
        fetches_per_min=2,
        client=httpx.Client(transport=httpx.MockTransport(served)),
        clock=clock,
        now=lambda: NOW,
    )
    store.public_key("https://api.paypal.com/certs/1.pem")
    store.public_key("https://api.paypal.com/certs/2.pem")
    with pytest.raises(CertificateUnavailable) as info:
        store.public_key("https://api.paypal.com/certs/3.pem")
    assert info.value.reason == "certificate_fetches_limited"
    assert len(served.paths) == 2
    store.public_key("https://api.paypal.com/certs/1.pem")  # cached: no fetch needed
    clock.t = 60
    store.public_key("https://api.paypal.com/certs/3.pem")
    assert len(served.paths) == 3


def test_concurrent_deliveries_fetch_a_url_once(identity: PayPalIdentity) -> None:
    release = threading.Event()
    served = FakeServingAnyPath(identity.pem, before=release.wait)
    store = CertificateStore(
        roots=[identity.root],
        client=httpx.Client(transport=httpx.MockTransport(served)),
        now=lambda: NOW,
    )
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(store.public_key, CERT_URL) for _ in range(8)]
        release.set()
        keys = {f.result(timeout=30).public_numbers() for f in futures}
    assert len(keys) == 1
    assert served.paths == ["/certs/paypal.pem"]


def test_an_oversized_certificate_answer_is_refused(identity: PayPalIdentity) -> None:
    fake = FakeProvider(certificate_pem=identity.pem + b"\n" * 70_000)
    verifier, _ = make(identity, fake=fake)
    with pytest.raises(SignatureInvalid, match="more than 65536 bytes"):
        verifier.verify(BODY, headers(identity))


def test_roots_setting_takes_a_path_or_pem_text(tmp_path: Path, identity: PayPalIdentity) -> None:
    from resilience.shop import ShopSettings

    path = tmp_path / "roots.pem"
    path.write_bytes(identity.root_pem)
    for value in (str(path), identity.root_pem.decode()):
        roots = ShopSettings(paypal_cert_roots=value).paypal_roots()
        assert roots is not None and [r.subject for r in roots] == [identity.root.subject]
    with pytest.raises(ValueError, match=r"SHOP_PAYPAL_CERT_ROOTS='/nope.pem': cannot read"):
        ShopSettings(paypal_cert_roots="/nope.pem")
    path.write_text("hello")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        ShopSettings(paypal_cert_roots=str(path))


class FakeServingAnyPath:
    """Serves ``pem`` at every path and records the paths fetched."""

    def __init__(self, pem: bytes, before: Callable[[], object] | None = None) -> None:
        self.pem = pem
        self.before = before
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None:
            self.before()
        self.paths.append(request.url.path)
        return httpx.Response(200, content=self.pem)
