"""A webhook sender that behaves like a payment provider: signed deliveries, at least once — the
same request repeated (a loop) or re-signed later (a retry) — in order or shuffled, with wrongly
signed ones mixed in. Every delivery is recorded for the journal.

Stripe: HMAC-SHA256 of ``"{t}.{body}"``. PayPal: SHA256withRSA over
``"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"`` with a key whose
certificate the fake provider serves. Standard Webhooks: ``v1`` HMAC-SHA256 (keyed with the
base64 of a ``whsec_`` secret) and/or ``v1a`` ed25519 (a ``whsk_`` key) over
``"{webhook-id}.{t}.{body}"``. The harness signs itself, from the providers' published schemes,
rather than importing the system under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from harness.scenario.keys import decode_key

__all__ = ["Delivery", "PayPalSigner", "StandardSigner", "plan_deliveries", "stripe_signature"]


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class PayPalSigner:
    private_key: rsa.RSAPrivateKey
    cert_url: str
    webhook_id: str

    def headers(self, body: bytes, transmission_id: str, timestamp: int) -> dict[str, str]:
        when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"{transmission_id}|{when}|{self.webhook_id}|{zlib.crc32(body)}".encode()
        signature = self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }


@dataclass(frozen=True)
class StandardSigner:
    """Signs Standard Webhooks deliveries with a ``whsec_`` secret (``v1``) and/or a ``whsk_``
    ed25519 key (``v1a``); ``forger()`` is one with keys nobody configured."""

    secret: str | None = None
    signing_key: str | None = None

    def __post_init__(self) -> None:
        if not self.secret and not self.signing_key:
            raise ValueError("a Standard Webhooks signer needs secret or signing_key")

    def headers(self, body: bytes, msg_id: str, timestamp: int) -> dict[str, str]:
        content = f"{msg_id}.{timestamp}.".encode() + body
        signatures = []
        if self.secret:
            digest = hmac.new(decode_key(self.secret, "whsec_"), content, hashlib.sha256).digest()
            signatures.append("v1," + base64.b64encode(digest).decode())
        if self.signing_key:
            seed = decode_key(self.signing_key, "whsk_")[:32]
            key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
            signatures.append("v1a," + base64.b64encode(key.sign(content)).decode())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }

    def forger(self) -> StandardSigner:
        seed = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
        wrong = "whsk_" + base64.b64encode(seed).decode()
        return StandardSigner(
            "whsec_" + base64.b64encode(hashlib.sha256(seed).digest()).decode()
            if self.secret
            else None,
            wrong if self.signing_key else None,
        )


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    attempt: int  # 1 for the first delivery of an event
    body: bytes
    headers: dict[str, str] = field(hash=False)
    kind: str  # first | repeat | resigned | bad_signature

    @property
    def signature(self) -> str:
        for header in ("Stripe-Signature", "PAYPAL-TRANSMISSION-SIG", "webhook-signature"):
            if header in self.headers:
                return self.headers[header]
        raise KeyError("no signature header")


def plan_deliveries(
    events: list[dict[str, Any]],
    *,
    secret: str | None = None,
    paypal: PayPalSigner | None = None,
    standard: StandardSigner | None = None,
    copies: int,
    resign: bool,
    shuffle: bool,
    bad_signatures: int,
    rng: random.Random,
    now: int | None = None,
) -> list[Delivery]:
    """Every delivery to make, in order. ``events`` are ``{"id", "type", "object"}``; give
    ``secret`` for Stripe, ``paypal`` for PayPal or ``standard`` for Standard Webhooks."""
    t0 = int(time.time()) if now is None else now
    if standard is not None:
        wrong = standard.forger()
        sent_at = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        def body_of(event: dict[str, Any]) -> bytes:
            return json.dumps(
                {"type": event["type"], "timestamp": sent_at, "data": event["object"]}
            ).encode()

        def sign(
            event_id: str, body: bytes, at: int, n: int, forged: bool = False
        ) -> dict[str, str]:
            return (wrong if forged else standard).headers(body, event_id, at)
    elif paypal is not None:
        forger = PayPalSigner(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            paypal.cert_url,
            paypal.webhook_id,
        )

        def body_of(event: dict[str, Any]) -> bytes:
            return json.dumps(
                {"id": event["id"], "event_type": event["type"], "resource": event["object"]}
            ).encode()

        def sign(
            event_id: str, body: bytes, at: int, n: int, forged: bool = False
        ) -> dict[str, str]:
            transmission = f"{hashlib.sha256(body).hexdigest()[:12]}-{at}-{n}"
            return (forger if forged else paypal).headers(body, transmission, at)
    else:
        if not secret:
            raise ValueError("plan_deliveries needs secret (Stripe), paypal or standard")
        key = secret

        def body_of(event: dict[str, Any]) -> bytes:
            return json.dumps(
                {
                    "id": event["id"],
                    "object": "event",
                    "type": event["type"],
                    "created": t0,
                    "data": {"object": event["object"]},
                }
            ).encode()

        def sign(
            event_id: str, body: bytes, at: int, n: int, forged: bool = False
        ) -> dict[str, str]:
            return {
                "Stripe-Signature": stripe_signature(body, key + "-wrong" if forged else key, at)
            }

    plan: list[Delivery] = []
    for event in events:
        body = body_of(event)
        first = sign(event["id"], body, t0, 1)
        for attempt in range(1, copies + 1):
            if attempt == 1:
                plan.append(Delivery(event["id"], event["type"], 1, body, first, "first"))
            elif resign:  # a provider retry: same event, signed anew a little later
                plan.append(
                    Delivery(
                        event["id"],
                        event["type"],
                        attempt,
                        body,
                        sign(event["id"], body, t0 + attempt, attempt),
                        "resigned",
                    )
                )
            else:  # a loop: the very same request again
                plan.append(Delivery(event["id"], event["type"], attempt, body, first, "repeat"))
    for i in range(bad_signatures):
        event = events[i % len(events)]
        forged_event = {**event, "id": f"{event['id']}_forged_{i}"}
        body = body_of(forged_event)
        plan.append(
            Delivery(
                forged_event["id"],
                event["type"],
                1,
                body,
                sign(forged_event["id"], body, t0, 1, forged=True),
                "bad_signature",
            )
        )
    if shuffle:
        rng.shuffle(plan)
    return plan
