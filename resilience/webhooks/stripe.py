"""Stripe's webhook signatures: ``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]``.

``v1`` is HMAC-SHA256 of ``"{t}.{raw body}"`` keyed with the endpoint secret. Several ``v1``
values may be present (Stripe signs with every active secret while one is rotated), and the
verifier accepts several secrets for the same reason. Compatible with the official ``stripe``
library both ways (tested).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from resilience.errors import SignatureInvalid
from resilience.webhooks.delivery import VerifiedDelivery, parse_event

__all__ = ["HEADER", "StripeVerifier", "sign"]

HEADER = "stripe-signature"
SCHEME = "v1"


def _hmac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(
    body: bytes, secrets: str | Sequence[str], *, timestamp: int | None = None
) -> str:  # pragma: no mutate block (the provider's side: fakes and tests sign with it)
    """A ``Stripe-Signature`` header value for ``body``, one ``v1`` per secret.

    Example::

        headers = {"Stripe-Signature": sign(body, "whsec_test", timestamp=1700000000)}
    """
    t = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={t}", *(f"{SCHEME}={_hmac(k, t, body)}" for k in keys)])


class StripeVerifier:
    """Verify Stripe deliveries.

    Parameters:
        secrets: the endpoint's signing secrets (``whsec_...``); any may match.
        tolerance_s: how far the signed timestamp may be from now, in the past or the future.
        clock: returns the current Unix time.
    """

    provider = "stripe"

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets or not all(secrets):
            raise ValueError("StripeVerifier needs at least one non-empty signing secret")
        self._secrets = tuple(secrets)
        self.tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        header = headers.get(HEADER)
        if not header:
            raise SignatureInvalid("stripe", "missing_signature", "no Stripe-Signature header")
        timestamp, signatures = self._parse(header)
        skew = self._clock() - timestamp
        if abs(skew) > self.tolerance_s:
            raise SignatureInvalid(
                "stripe",
                "stale_timestamp",
                f"signed {abs(skew):.0f} s {'ago' if skew > 0 else 'in the future'}; "
                f"tolerance is {self.tolerance_s:g} s (check the sender's clock)",
            )
        expected = [_hmac(secret, timestamp, body) for secret in self._secrets]
        # Compare every pair so timing does not reveal which secret or signature matched.
        matched = False
        for candidate in signatures:
            for want in expected:
                matched |= hmac.compare_digest(candidate, want)
        if not matched:
            raise SignatureInvalid(
                "stripe", "bad_signature", "no v1 signature matches the body and a known secret"
            )
        event_id, event_type, document = parse_event(
            "stripe", body, id_field="id", type_field="type"
        )
        return VerifiedDelivery(
            provider="stripe",
            event_id=event_id,
            event_type=event_type,
            payload=body,
            document=document,
            delivery_key=header,
            signed_at=datetime.fromtimestamp(timestamp, UTC),
        )

    @staticmethod
    def _parse(header: str) -> tuple[int, list[str]]:
        timestamp: int | None = None
        signatures: list[str] = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep:
                continue
            if key == "t":
                try:
                    timestamp = int(value)
                except ValueError:
                    raise SignatureInvalid(
                        "stripe", "malformed_signature", f"t={value!r} is not a Unix time"
                    ) from None
            elif key == SCHEME and value.isascii():
                # Anything else can never match a hex digest (and compare_digest refuses it).
                signatures.append(value)
        if timestamp is None or not signatures:
            raise SignatureInvalid(
                "stripe",
                "malformed_signature",
                "Stripe-Signature needs t=<unix time> and at least one v1=<signature>",
            )
        return timestamp, signatures
