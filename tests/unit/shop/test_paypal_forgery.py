"""A genuine PayPal delivery's headers over a crafted body: the attack of the security review.

PayPal signs ``transmission id | time | webhook id | crc32(body)``, so a forger holding one real
delivery can build a new body with the same CRC32 and a new event id, and respell the signature's
base64 so its text differs. Both dedup layers must refuse it: the anti-loop cache, and the inbox
when the cache is down.
"""

from __future__ import annotations

import base64
import json
import zlib

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from resilience.shop import ShopContext
from resilience.webhooks import paypal as paypal_sig
from resilience.webhooks.dedup import MemorySeenStore
from resilience.webhooks.models import WebhookEvent
from resilience.webhooks.testing import PayPalIdentity, paypal_event
from tests.support.crc import with_crc32
from tests.unit.shop.conftest import PAYPAL_CERT_URL, PAYPAL_WEBHOOK_ID, drain
from tests.unit.shop.test_webhooks_api import new_order


def genuine(identity: PayPalIdentity, order_id: int) -> tuple[bytes, dict[str, str]]:
    body = paypal_event(
        "PAYMENT.CAPTURE.COMPLETED", {"id": "CAP-1", "custom_id": str(order_id)}, event_id="WH-1"
    )
    headers = paypal_sig.sign(
        body,
        identity.private_key,
        webhook_id=PAYPAL_WEBHOOK_ID,
        cert_url=PAYPAL_CERT_URL,
        transmission_id="TX-GENUINE",
    )
    return body, headers


def forged(body: bytes, headers: dict[str, str], victim: int) -> tuple[bytes, dict[str, str]]:
    """A new event for ``victim`` with ``body``'s CRC32, under a respelt copy of its signature."""
    prefix = json.dumps(
        {
            "id": "WH-FORGED",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAP-FORGED", "custom_id": str(victim)},
            "pad": "",
        }
    ).encode()[:-2]  # ends inside the empty "pad" string
    crafted = with_crc32(prefix, b'"}', zlib.crc32(body))
    signature = headers["PAYPAL-TRANSMISSION-SIG"]
    stem, padding = signature.rstrip("="), signature[len(signature.rstrip("=")) :]
    assert padding, "the trick needs unused bits before the padding"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    respelt = stem[:-1] + alphabet[alphabet.index(stem[-1]) ^ 1] + padding  # an unused bit
    assert base64.b64decode(respelt) == base64.b64decode(signature)  # the same bytes
    assert respelt != signature
    return crafted, {**headers, "PAYPAL-TRANSMISSION-SIG": respelt}


@pytest.mark.parametrize("cache", ["cache up", "cache forgot"])
def test_a_genuine_signature_over_a_crafted_body_is_refused(
    client: TestClient,
    ctx: ShopContext,
    worker: dramatiq.Worker,
    paypal: PayPalIdentity,
    cache: str,
) -> None:
    paid, victim = new_order(client), new_order(client, quantity=1, price=99_900)
    body, headers = genuine(paypal, paid)
    assert client.post("/webhooks/paypal", content=body, headers=headers).status_code == 200
    crafted, reused = forged(body, headers, victim)
    # The forgery passes the signature check: only dedup on the transmission id stops it.
    ctx.intake.verifiers["paypal"].verify(crafted, {k.lower(): v for k, v in reused.items()})
    if cache == "cache forgot":
        ctx.intake._seen = MemorySeenStore()  # Redis restarted or down: the inbox must hold

    r = client.post("/webhooks/paypal", content=crafted, headers=reused)

    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "reused_delivery"
    drain(ctx, worker)
    assert client.get(f"/orders/{victim}").json()["status"] == "pending"
    assert client.get(f"/orders/{paid}").json()["status"] in ("paid", "fulfilled")
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    assert ctx.metrics.totals()[("rejected", "paypal", "reused_delivery")] == 1


def test_the_same_delivery_again_is_a_duplicate_not_a_forgery(
    client: TestClient, ctx: ShopContext, paypal: PayPalIdentity
) -> None:
    body, headers = genuine(paypal, new_order(client))
    assert client.post("/webhooks/paypal", content=body, headers=headers).json()["status"] == (
        "accepted"
    )
    ctx.intake._seen = MemorySeenStore()  # only the inbox remembers it
    again = client.post("/webhooks/paypal", content=body, headers=headers)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")


def test_the_cache_remembers_at_least_as_long_as_a_signature_is_accepted(
    ctx: ShopContext,
) -> None:
    # A 10 s dedup TTL under a 300 s tolerance would let a replay through after 10 s.
    recorded: list[float] = []

    class Recording(MemorySeenStore):
        def sight(self, fingerprint: str, digest: str, ttl_s: float):  # type: ignore[no-untyped-def]
            recorded.append(ttl_s)
            return super().sight(fingerprint, digest, ttl_s)

    ctx.intake._seen = Recording()
    ctx.intake._dedup_ttl_s = 10.0
    verifier = ctx.intake.verifiers["paypal"]
    ctx.intake._sight(verifier, "TX", "d")
    assert recorded == [verifier.tolerance_s]
