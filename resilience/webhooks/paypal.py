"""PayPal's webhook signatures: SHA256withRSA over
``"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"``, verified with the
certificate at ``PAYPAL-CERT-URL``.

The certificate URL comes from the request, so it is checked against an allow-list of hosts
(``*.paypal.com`` over https by default) before anything is fetched, and the certificate is cached.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from resilience.errors import CertificateUnavailable, SignatureInvalid
from resilience.webhooks.delivery import VerifiedDelivery, parse_event

__all__ = ["HEADERS", "CertificateStore", "PayPalVerifier", "certificate_pem", "sign"]

TRANSMISSION_ID = "paypal-transmission-id"
TRANSMISSION_TIME = "paypal-transmission-time"
TRANSMISSION_SIG = "paypal-transmission-sig"
CERT_URL = "paypal-cert-url"
AUTH_ALGO = "paypal-auth-algo"
HEADERS = (TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL, AUTH_ALGO)
ALGORITHM = "SHA256withRSA"
MAX_TRANSMISSION_ID = 255  # the inbox column's width


def _message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}".encode()


def sign(
    body: bytes,
    private_key: rsa.RSAPrivateKey,
    *,
    webhook_id: str,
    cert_url: str,
    transmission_id: str,
    transmission_time: str | None = None,
) -> dict[str, str]:
    """PayPal-style headers for ``body``, signed with ``private_key`` (for fakes and tests)."""
    when = transmission_time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = private_key.sign(
        _message(transmission_id, when, webhook_id, body), padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": when,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-AUTH-ALGO": ALGORITHM,
    }


class CertificateStore:
    """Fetches and caches PayPal signing certificates from allowed hosts only.

    Parameters:
        allowed_hosts: host patterns (``fnmatch``), e.g. ``*.paypal.com``.
        allow_http: accept ``http://`` URLs too (tests with a local server only).
        ttl_s: how long a fetched certificate is reused.
        timeout_s: timeout of one fetch.
        client: the HTTP client (a test may pass one with a mock transport).
        clock: monotonic time for the cache; ``now``: wall-clock UTC for validity periods.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Sequence[str] = ("*.paypal.com",),
        allow_http: bool = False,
        ttl_s: float = 3600.0,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._allowed_hosts = tuple(allowed_hosts)
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._ttl_s = ttl_s
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._clock = clock
        self._now = now
        self._cache: dict[str, tuple[float, x509.Certificate]] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def check_url(self, url: str) -> None:
        """Raises SignatureInvalid unless ``url`` is on an allowed host and scheme."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in self._schemes or not any(
            fnmatch.fnmatch(host, pattern) for pattern in self._allowed_hosts
        ):
            raise SignatureInvalid(
                "paypal",
                "untrusted_cert_url",
                f"certificate URL {url!r} is not on an allowed host "
                f"({', '.join(self._allowed_hosts)} over {'/'.join(self._schemes)})",
            )

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        self.check_url(url)
        with self._lock:
            cached = self._cache.get(url)
        if cached is None or self._clock() - cached[0] > self._ttl_s:
            cached = (self._clock(), self._fetch(url))
            with self._lock:
                self._cache[url] = cached
        cert = cached[1]
        now = self._now()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SignatureInvalid(
                "paypal",
                "expired_certificate",
                f"certificate at {url} is valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d}, not now",
            )
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("paypal", "bad_certificate", f"certificate at {url} is not RSA")
        return key

    def _fetch(self, url: str) -> x509.Certificate:
        self.fetches += 1
        try:
            response = self._client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise CertificateUnavailable(
                "paypal", "certificate_unavailable", f"fetching {url} failed: {exc}"
            ) from exc
        try:
            return x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise SignatureInvalid(
                "paypal", "bad_certificate", f"{url} did not return a PEM certificate"
            ) from None

    def close(self) -> None:
        self._client.close()


class PayPalVerifier:
    """Verify PayPal deliveries for one webhook.

    Parameters:
        webhook_id: the id PayPal gave this endpoint (part of the signed message).
        certificates: where signing certificates come from.
        tolerance_s: how far the transmission time may be from now, either way.
        clock: returns the current Unix time.
    """

    provider = "paypal"

    def __init__(
        self,
        webhook_id: str,
        certificates: CertificateStore,
        *,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not webhook_id:
            raise ValueError("PayPalVerifier needs the webhook id PayPal assigned")
        self._webhook_id = webhook_id
        self._certificates = certificates
        self.tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        missing = [h.upper() for h in HEADERS if not headers.get(h)]
        if missing:
            raise SignatureInvalid(
                "paypal", "missing_signature", f"missing header(s): {', '.join(missing)}"
            )
        transmission_id = headers[TRANSMISSION_ID]
        if len(transmission_id) > MAX_TRANSMISSION_ID or not transmission_id.isprintable():
            raise SignatureInvalid(
                "paypal",
                "malformed_signature",
                f"PAYPAL-TRANSMISSION-ID must be up to {MAX_TRANSMISSION_ID} printable "
                f"characters; got {len(transmission_id)}",
            )
        algo = headers[AUTH_ALGO]
        if algo != ALGORITHM:
            raise SignatureInvalid(
                "paypal", "malformed_signature", f"PAYPAL-AUTH-ALGO {algo!r}; only {ALGORITHM}"
            )
        sent = headers[TRANSMISSION_TIME]
        try:
            signed_at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
        except ValueError:
            raise SignatureInvalid(
                "paypal",
                "malformed_signature",
                f"PAYPAL-TRANSMISSION-TIME {sent!r} is not ISO 8601",
            ) from None
        if signed_at.tzinfo is None:
            signed_at = signed_at.replace(tzinfo=UTC)
        skew = self._clock() - signed_at.timestamp()
        if abs(skew) > self.tolerance_s:
            raise SignatureInvalid(
                "paypal",
                "stale_timestamp",
                f"transmitted {abs(skew):.0f} s {'ago' if skew > 0 else 'in the future'}; "
                f"tolerance is {self.tolerance_s:g} s",
            )
        try:
            signature = base64.b64decode(headers[TRANSMISSION_SIG], validate=True)
        except (binascii.Error, ValueError):
            raise SignatureInvalid(
                "paypal", "malformed_signature", "PAYPAL-TRANSMISSION-SIG is not base64"
            ) from None
        key = self._certificates.public_key(headers[CERT_URL])
        message = _message(transmission_id, sent, self._webhook_id, body)
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SignatureInvalid(
                "paypal", "bad_signature", "signature does not match the body and webhook id"
            ) from None
        event_id, event_type, document = parse_event(
            "paypal", body, id_field="id", type_field="event_type"
        )
        return VerifiedDelivery(
            provider="paypal",
            event_id=event_id,
            event_type=event_type,
            payload=body,
            document=document,
            # Not the signature's text: base64 spells the same bytes several ways, and the
            # signature covers the body only through CRC32. The transmission id is what PayPal
            # signs as this delivery's identity; the intake refuses it with another body.
            delivery_key=transmission_id,
            signed_at=signed_at,
            delivery_id=transmission_id,
        )


def certificate_pem(cert: x509.Certificate) -> bytes:
    """PEM bytes of ``cert`` (what a certificate URL serves)."""
    return cert.public_bytes(serialization.Encoding.PEM)
