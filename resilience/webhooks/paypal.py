"""PayPal's webhook signatures: SHA256withRSA over
``"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"``, verified with the
certificate at ``PAYPAL-CERT-URL``.

The certificate URL comes from the request, so it is checked against an allow-list of hosts
(``*.paypal.com`` over https by default) before anything is fetched; the certificate must chain
to a trusted root and name PayPal's signing subject, and the cache is bounded against hostile URLs.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import threading
import time
import warnings
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import certifi
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from resilience.errors import CertificateUnavailable, SignatureInvalid, WebhookRejected
from resilience.webhooks.delivery import VerifiedDelivery, parse_event

__all__ = [
    "HEADERS",
    "SUBJECT",
    "CertificateStore",
    "PayPalVerifier",
    "certificate_pem",
    "default_roots",
    "load_roots",
    "sign",
]

TRANSMISSION_ID = "paypal-transmission-id"
TRANSMISSION_TIME = "paypal-transmission-time"
TRANSMISSION_SIG = "paypal-transmission-sig"
CERT_URL = "paypal-cert-url"
AUTH_ALGO = "paypal-auth-algo"
HEADERS = (TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL, AUTH_ALGO)
ALGORITHM = "SHA256withRSA"
MAX_TRANSMISSION_ID = 255  # the inbox column's width
#: the name on PayPal's message-signing certificate
SUBJECT = "messageverificationcerts.paypal.com"


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
) -> dict[str, str]:  # pragma: no mutate block (the provider's side: fakes and tests sign with it)
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
    """Fetches, validates and caches PayPal signing certificates, from allowed hosts only.

    A certificate is trusted only when it chains to one of ``roots`` and names ``subject``
    (PayPal's ``messageverificationcerts.paypal.com``); a PEM that merely sits on an allowed
    host is not enough. The URL comes from the request, so the cache is shaped against it:
    keyed on the URL without variants (a query string, fragment or user part is refused),
    bounded in size, failures remembered for ``failure_ttl_s``, one fetch per URL at a time,
    and at most ``fetches_per_min`` fetches a minute in all.

    Parameters:
        allowed_hosts: host patterns (``fnmatch``), e.g. ``*.paypal.com``.
        allow_http: accept ``http://`` URLs too (tests with a local server only).
        roots: the trust anchors (default: the ``certifi`` bundle).
        subject: the DNS name the signing certificate must carry.
        ttl_s: how long a validated certificate is reused.
        failure_ttl_s: how long a URL that failed (unreachable, not PEM, untrusted) is refused
            without fetching it again.
        cache_size: how many URLs are remembered (least recently used go first).
        fetches_per_min: fetches allowed a minute; beyond it a delivery is answered 503.
        max_bytes: the largest certificate response read.
        timeout_s: timeout of one fetch.
        client: the HTTP client (a test may pass one with a mock transport).
        clock: monotonic time for the cache; ``now``: wall-clock UTC for validity periods.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Sequence[str] = ("*.paypal.com",),
        allow_http: bool = False,
        roots: Sequence[x509.Certificate] | None = None,
        subject: str = SUBJECT,
        ttl_s: float = 3600.0,
        failure_ttl_s: float = 60.0,
        cache_size: int = 32,
        fetches_per_min: int = 60,
        max_bytes: int = 64 * 1024,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if cache_size < 1 or fetches_per_min < 1 or max_bytes < 1:
            raise ValueError("cache_size, fetches_per_min and max_bytes must be at least 1")
        self._allowed_hosts = tuple(allowed_hosts)
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._store = Store(list(roots if roots is not None else default_roots()))
        self._subject = subject
        self._ttl_s = ttl_s
        self._failure_ttl_s = failure_ttl_s
        self._cache_size = cache_size
        self._fetches_per_min = fetches_per_min
        self._max_bytes = max_bytes
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._clock = clock
        self._now = now
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._in_flight: dict[str, threading.Lock] = {}
        self._recent_fetches: deque[float] = deque()
        self._lock = threading.Lock()
        self.fetches = 0

    def check_url(self, url: str) -> str:
        """The cache key of ``url``; raises SignatureInvalid unless it is on an allowed host and
        scheme, without a query, fragment or user part."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in self._schemes or not any(
            fnmatch.fnmatch(host, pattern) for pattern in self._allowed_hosts
        ):
            raise SignatureInvalid(
                "paypal",
                "untrusted_cert_url",
                f"certificate URL {url!r} is not on an allowed host "
                f"({', '.join(self._allowed_hosts)} over {'/'.join(self._schemes)})",
            )
        if any(c in url for c in "?#") or "@" in parts.netloc or not url.isprintable():
            raise SignatureInvalid(
                "paypal",
                "untrusted_cert_url",
                f"certificate URL {url!r} has a query, fragment or user part; "
                "PayPal's certificate URLs have none",
            )
        port = f":{parts.port}" if parts.port is not None else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        key = self.check_url(url)
        entry = self._cached(key)
        if entry is None:
            with self._flight(key):
                entry = self._cached(key)  # another thread may have fetched it meanwhile
                if entry is None:
                    entry = self._load(key)
        if isinstance(entry.value, WebhookRejected):
            failure = entry.value  # a fresh exception per delivery: threads share the entry
            raise type(failure)(
                failure.provider, failure.reason, f"{failure.message} (remembered; not refetched)"
            )
        now = self._now()
        if not entry.not_before <= now <= entry.not_after:
            raise SignatureInvalid(
                "paypal",
                "expired_certificate",
                f"certificate at {key} (or its chain) is valid {entry.not_before:%Y-%m-%d} to "
                f"{entry.not_after:%Y-%m-%d}, not now",
            )
        return entry.value

    def _cached(self, key: str) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if self._clock() >= entry.expires_at:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return entry

    @contextmanager
    def _flight(self, key: str) -> Iterator[None]:
        with self._lock:
            lock = self._in_flight.setdefault(key, threading.Lock())
        with lock:
            yield
        with self._lock:
            if not lock.locked():
                self._in_flight.pop(key, None)

    def _load(self, key: str) -> _Entry:
        self._take_fetch(key)
        try:
            entry = self._validated(key, self._fetch(key))
        except WebhookRejected as exc:
            self._remember(key, _Entry(self._clock() + self._failure_ttl_s, exc, _EPOCH, _EPOCH))
            raise
        self._remember(key, entry)
        return entry

    def _remember(self, key: str, entry: _Entry) -> None:
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _take_fetch(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            while self._recent_fetches and now - self._recent_fetches[0] >= 60.0:
                self._recent_fetches.popleft()
            if len(self._recent_fetches) >= self._fetches_per_min:
                raise CertificateUnavailable(
                    "paypal",
                    "certificate_fetches_limited",
                    f"not fetching {key}: {self._fetches_per_min} certificate fetches in the "
                    "last minute already (PAYPAL-CERT-URL varies more than PayPal's does)",
                )
            self._recent_fetches.append(now)
            self.fetches += 1

    def _fetch(self, url: str) -> bytes:
        try:
            with self._client.stream("GET", url) as response:
                response.raise_for_status()
                content = b""
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > self._max_bytes:
                        raise SignatureInvalid(
                            "paypal",
                            "bad_certificate",
                            f"{url} answered more than {self._max_bytes} bytes",
                        )
                return content
        except httpx.HTTPError as exc:
            raise CertificateUnavailable(
                "paypal", "certificate_unavailable", f"fetching {url} failed: {exc}"
            ) from exc

    def _validated(self, url: str, content: bytes) -> _Entry:
        try:
            leaf, *intermediates = x509.load_pem_x509_certificates(content)
        except ValueError:
            raise SignatureInvalid(
                "paypal", "bad_certificate", f"{url} did not return a PEM certificate"
            ) from None
        now = self._now()
        for cert in (leaf, *intermediates):
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise SignatureInvalid(
                    "paypal",
                    "expired_certificate",
                    f"certificate {cert.subject.rfc4514_string()!r} at {url} is valid "
                    f"{cert.not_valid_before_utc:%Y-%m-%d} to "
                    f"{cert.not_valid_after_utc:%Y-%m-%d}, not now",
                )
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(now)
            .build_server_verifier(DNSName(self._subject))
        )
        try:
            chain = verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            raise SignatureInvalid(
                "paypal",
                "untrusted_certificate",
                f"certificate at {url} is not a certificate for {self._subject} from a "
                f"trusted issuer: {str(exc).split(' (encountered')[0]}",
            ) from None
        key = leaf.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("paypal", "bad_certificate", f"certificate at {url} is not RSA")
        return _Entry(
            self._clock() + self._ttl_s,
            key,
            max(c.not_valid_before_utc for c in chain),
            min(c.not_valid_after_utc for c in chain),
        )

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class _Entry:
    expires_at: float
    value: rsa.RSAPublicKey | WebhookRejected
    not_before: datetime
    not_after: datetime


_EPOCH = datetime.fromtimestamp(0, UTC)


@functools.cache
def default_roots() -> tuple[x509.Certificate, ...]:
    """The ``certifi`` bundle: the public CAs PayPal's certificates chain to."""
    with warnings.catch_warnings():  # one old root has a serial RFC 5280 no longer allows
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return tuple(load_roots(Path(certifi.where()).read_bytes()))


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """Certificates in ``pem``; ValueError naming the problem when there are none."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError("holds no PEM certificate") from None


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
