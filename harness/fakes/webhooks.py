"""A webhook sender that behaves like a payment provider: signed deliveries, at least once — the
same request repeated (a loop) or re-signed later (a retry) — in order or shuffled, with wrongly
signed ones mixed in. Every delivery is recorded for the journal.

Stripe: HMAC-SHA256 of ``"{t}.{body}"``. PayPal: SHA256withRSA over
``"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"`` with a key whose
certificate the fake provider serves. The harness signs itself, from the providers' published
schemes, rather than importing the system under test.
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
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["Delivery", "PayPalSigner", "plan_deliveries", "stripe_signature"]


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
class Delivery:
    event_id: str
    event_type: str
    attempt: int  # 1 for the first delivery of an event
    body: bytes
    headers: dict[str, str] = field(hash=False)
    kind: str  # first | repeat | resigned | bad_signature

    @property
    def signature(self) -> str:
        return self.headers.get("Stripe-Signature") or self.headers["PAYPAL-TRANSMISSION-SIG"]


def plan_deliveries(
    events: list[dict[str, Any]],
    *,
    secret: str | None = None,
    paypal: PayPalSigner | None = None,
    copies: int,
    resign: bool,
    shuffle: bool,
    bad_signatures: int,
    rng: random.Random,
    now: int | None = None,
) -> list[Delivery]:
    """Every delivery to make, in order. ``events`` are ``{"id", "type", "object"}``; give
    ``secret`` for Stripe or ``paypal`` for PayPal."""
    t0 = int(time.time()) if now is None else now
    if paypal is not None:
        forger = PayPalSigner(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            paypal.cert_url,
            paypal.webhook_id,
        )

        def body_of(event: dict[str, Any]) -> bytes:
            return json.dumps(
                {"id": event["id"], "event_type": event["type"], "resource": event["object"]}
            ).encode()

        def sign(body: bytes, at: int, n: int, forged: bool = False) -> dict[str, str]:
            transmission = f"{hashlib.sha256(body).hexdigest()[:12]}-{at}-{n}"
            return (forger if forged else paypal).headers(body, transmission, at)
    else:
        if not secret:
            raise ValueError("plan_deliveries needs secret (Stripe) or paypal")
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

        def sign(body: bytes, at: int, n: int, forged: bool = False) -> dict[str, str]:
            return {
                "Stripe-Signature": stripe_signature(body, key + "-wrong" if forged else key, at)
            }

    plan: list[Delivery] = []
    for event in events:
        body = body_of(event)
        first = sign(body, t0, 1)
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
                        sign(body, t0 + attempt, attempt),
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
                sign(body, t0, 1, forged=True),
                "bad_signature",
            )
        )
    if shuffle:
        rng.shuffle(plan)
    return plan
