"""A webhook sender that behaves like a payment provider: Stripe-signed deliveries, at least
once — the same request repeated (a loop) or re-signed later (a retry) — in order or shuffled,
with wrongly signed ones mixed in. Every delivery is recorded for the journal.

Signing follows Stripe's published scheme (HMAC-SHA256 of ``"{t}.{body}"``); the harness signs
itself rather than importing the system under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Delivery", "plan_deliveries", "stripe_signature"]


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    attempt: int  # 1 for the first delivery of an event
    body: bytes
    signature: str
    kind: str  # first | repeat | resigned | bad_signature


def plan_deliveries(
    events: list[dict[str, Any]],
    *,
    secret: str,
    copies: int,
    resign: bool,
    shuffle: bool,
    bad_signatures: int,
    rng: random.Random,
    now: int | None = None,
) -> list[Delivery]:
    """Every delivery to make, in order. ``events`` are ``{"id", "type", "object"}``."""
    t0 = int(time.time()) if now is None else now
    plan: list[Delivery] = []
    for event in events:
        body = json.dumps(
            {
                "id": event["id"],
                "object": "event",
                "type": event["type"],
                "created": t0,
                "data": {"object": event["object"]},
            }
        ).encode()
        first = stripe_signature(body, secret, t0)
        for attempt in range(1, copies + 1):
            if attempt == 1:
                plan.append(Delivery(event["id"], event["type"], 1, body, first, "first"))
            elif resign:
                # A provider retry: same event, signed anew a little later.
                signature = stripe_signature(body, secret, t0 + attempt)
                plan.append(
                    Delivery(event["id"], event["type"], attempt, body, signature, "resigned")
                )
            else:
                plan.append(Delivery(event["id"], event["type"], attempt, body, first, "repeat"))
    for i in range(bad_signatures):
        event = events[i % len(events)]
        body = json.dumps(
            {
                "id": f"{event['id']}_forged_{i}",
                "object": "event",
                "type": event["type"],
                "data": {"object": event["object"]},
            }
        ).encode()
        forged = stripe_signature(body, secret + "-wrong", t0)
        plan.append(
            Delivery(f"{event['id']}_forged_{i}", event["type"], 1, body, forged, "bad_signature")
        )
    if shuffle:
        rng.shuffle(plan)
    return plan
