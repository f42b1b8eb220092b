"""Both webhook endpoints under correctly signed hostile bodies and headers (Hypothesis): never a
5xx, and a delivery that is refused stores nothing."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience.shop import ShopContext
from resilience.webhooks import paypal as paypal_sig
from resilience.webhooks import stripe as stripe_sig
from resilience.webhooks.models import WebhookEvent
from resilience.webhooks.testing import PayPalIdentity
from tests.unit.shop.conftest import PAYPAL_CERT_URL, PAYPAL_WEBHOOK_ID, STRIPE_SECRET
from tests.unit.shop.test_webhooks_api import count

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=300),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
events = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=300), scalars),
        "type": st.one_of(st.text(max_size=40), scalars),
    },
    optional={"event_type": st.text(max_size=40), "data": documents, "resource": documents},
)


def encoded(event: dict[str, Any], how: str) -> bytes:
    text = json.dumps(event)
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "nested":
        return text[:-1].encode() + b', "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    return text.encode()


bodies = st.one_of(
    st.binary(max_size=2000),
    st.builds(encoded, events, st.sampled_from(["utf-8", "utf-16", "nested"])),
)
header_noise = st.dictionaries(
    st.sampled_from(
        ["content-type", "stripe-signature-extra", "paypal-auth-algo-x", "x-forwarded-for"]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=50),
    max_size=3,
)


def refused_or_stored(
    client: TestClient, ctx: ShopContext, path: str, body: bytes, headers: dict[str, str]
) -> None:
    before = count(ctx, WebhookEvent)
    r = client.post(path, content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != 200:
        assert count(ctx, WebhookEvent) == before
        assert r.json()["error"]["code"]


def test_signed_hostile_stripe_deliveries(client: TestClient, ctx: ShopContext) -> None:
    @given(body=bodies, noise=header_noise, t_offset=st.integers(-1000, 1000))
    @FUZZ
    def one(body: bytes, noise: dict[str, str], t_offset: int) -> None:
        import time

        header = stripe_sig.sign(body, STRIPE_SECRET, timestamp=int(time.time()) + t_offset)
        refused_or_stored(
            client, ctx, "/webhooks/stripe", body, {**noise, "Stripe-Signature": header}
        )

    one()


def test_signed_hostile_paypal_deliveries(
    client: TestClient, ctx: ShopContext, paypal: PayPalIdentity
) -> None:
    @given(
        body=bodies,
        noise=header_noise,
        tid=st.text(
            alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=300
        ),
    )
    @FUZZ
    def one(body: bytes, noise: dict[str, str], tid: str) -> None:
        headers = paypal_sig.sign(
            body,
            paypal.private_key,
            webhook_id=PAYPAL_WEBHOOK_ID,
            cert_url=PAYPAL_CERT_URL,
            transmission_id=tid,
        )
        # Header values are bytes on the wire: a non-ASCII id arrives as its UTF-8 bytes.
        sendable = {k: v.encode("utf-8") for k, v in {**noise, **headers}.items()}
        refused_or_stored(client, ctx, "/webhooks/paypal", body, sendable)

    one()
