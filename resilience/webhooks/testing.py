"""Fakes for tests of webhook handling, shipped so users can test their own integration.

- :func:`paypal_identity`: a key pair, its certificate and the test root that issued it, to
  sign PayPal deliveries.
- :func:`stripe_event`, :func:`paypal_event`: event bodies shaped like the providers'.
- :class:`FakeProvider`: a provider's API and certificate host as a plain function of an
  ``httpx.Request`` (use it with ``httpx.MockTransport``), which :meth:`FakeProvider.serve` also
  puts on a real loopback HTTP server. It fails a configurable share of calls with 500.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from resilience.webhooks.paypal import SUBJECT, certificate_pem

__all__ = ["FakeProvider", "PayPalIdentity", "paypal_event", "paypal_identity", "stripe_event"]

CERT_PATH = "/certs/paypal.pem"


@dataclass(frozen=True)
class PayPalIdentity:
    """A signing key, its certificate, and the test root that issued it (the trust anchor to
    give :class:`~resilience.webhooks.paypal.CertificateStore` as ``roots``)."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    root: x509.Certificate

    @property
    def pem(self) -> bytes:
        """What a certificate URL serves: the signing certificate."""
        return certificate_pem(self.certificate)

    @property
    def root_pem(self) -> bytes:
        return certificate_pem(self.root)


def paypal_identity(
    common_name: str = SUBJECT,
    *,
    valid_from: datetime | None = None,
    valid_days: int = 30,
) -> PayPalIdentity:
    """A fresh RSA key and a certificate for ``common_name`` issued by a fresh test root."""
    start = valid_from or datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=valid_days)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "resilience test root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    return PayPalIdentity(key, cert, root)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def stripe_event(event_type: str, obj: Mapping[str, Any], *, event_id: str | None = None) -> bytes:
    """A Stripe event body: ``{"id", "object": "event", "type", "data": {"object": obj}}``."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(datetime.now(UTC).timestamp()),
            "data": {"object": dict(obj)},
        }
    ).encode()


def paypal_event(
    event_type: str, resource: Mapping[str, Any], *, event_id: str | None = None
) -> bytes:
    """A PayPal event body: ``{"id", "event_type", "resource": resource}``."""
    return json.dumps(
        {
            "id": event_id or f"WH-{uuid.uuid4().hex[:17].upper()}",
            "event_version": "1.0",
            "create_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event_type": event_type,
            "resource": dict(resource),
        }
    ).encode()


class FakeProvider:
    """Stripe's and PayPal's payment-status APIs and a certificate URL, with injected failures.

    Parameters:
        failure_rate: share of API calls answered 500 (certificate fetches never fail).
        seed: seed of the failure draws, so a run can be repeated.
        statuses: payment or refund ref -> status to report (default: ``succeeded`` for Stripe,
            ``COMPLETED`` for PayPal captures and refunds).
        certificate_pem: what ``GET /certs/paypal.pem`` serves.
    """

    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        seed: int = 0,
        statuses: Mapping[str, str] | None = None,
        certificate_pem: bytes | None = None,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate={failure_rate!r}: must be within 0..1")
        self.failure_rate = failure_rate
        self.statuses = dict(statuses or {})
        self.certificate_pem = certificate_pem
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()
        self.calls = 0
        self.failures = 0
        self.cert_fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == CERT_PATH:
            with self._lock:
                self.cert_fetches += 1
            if self.certificate_pem is None:
                return httpx.Response(404)
            return httpx.Response(200, content=self.certificate_pem)
        with self._lock:
            self.calls += 1
            fail = self._random.random() < self.failure_rate
            self.failures += fail
        if fail:
            return httpx.Response(500, json={"error": "injected failure"})
        for prefix, default in (
            ("/v1/payment_intents/", "succeeded"),
            ("/v2/payments/captures/", "COMPLETED"),
            ("/v2/payments/refunds/", "COMPLETED"),
        ):
            if path.startswith(prefix):
                ref = path.removeprefix(prefix)
                status = self.statuses.get(ref, default)
                return httpx.Response(200, json={"id": ref, "status": status})
        return httpx.Response(404, json={"error": f"no route {path}"})

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve this fake over real HTTP on loopback; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                response = fake(httpx.Request("GET", f"http://{host}{self.path}"))
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((host, port), Handler)
        thread = threading.Thread(target=server.serve_forever, name="fake-provider", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
