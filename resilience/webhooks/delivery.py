"""What a verified webhook delivery is, and the contract every provider's verifier fulfils."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from resilience.errors import PayloadInvalid

__all__ = ["MAX_ID_CHARS", "VerifiedDelivery", "Verifier", "parse_event"]

MAX_ID_CHARS = 255  # the inbox columns' width


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature checked out.

    Attributes:
        provider: ``stripe`` or ``paypal``.
        event_id: the provider's event id; unique per provider for ever (dedup layer 2).
        event_type: e.g. ``payment_intent.succeeded``.
        payload: the raw body, exactly as signed.
        document: the parsed JSON body.
        delivery_key: identifies this one delivery for the anti-loop cache (dedup layer 1): the
            signature header for Stripe, the transmission id for PayPal. A re-signed retry of
            the same event has another key.
        signed_at: when the provider signed it.
        delivery_id: the provider's own id of this delivery when its scheme signs one (PayPal's
            transmission id); the inbox keeps it unique, so a genuine delivery's headers can
            never carry a second body.
    """

    provider: str
    event_id: str
    event_type: str
    payload: bytes
    document: Mapping[str, Any]
    delivery_key: str
    signed_at: datetime
    delivery_id: str | None = None


class Verifier(Protocol):
    """Checks one provider's signature scheme."""

    provider: str
    tolerance_s: float
    """How old (or early) a signature may be; the anti-loop cache remembers at least this long."""

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        """Verify ``body`` against the signature in ``headers`` (keys lower-case), then parse it.

        Raises:
            SignatureInvalid: no, malformed, stale or wrong signature.
            PayloadInvalid: the signed body is not a JSON event with an id and a type.
            CertificateUnavailable: a key needed to verify cannot be fetched right now.
        """
        ...


def parse_event(
    provider: str, body: bytes, *, id_field: str | None, type_field: str
) -> tuple[str, str, Mapping[str, Any]]:
    """``(event_id, event_type, document)`` from a JSON body. With ``id_field`` None the scheme
    signs the id outside the body (Standard Webhooks' ``webhook-id``) and ``event_id`` is "".

    Raises:
        PayloadInvalid: naming what is wrong with the body.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid(
            provider, "malformed_json", f"body is not UTF-8 JSON (byte {exc.start})"
        ) from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise PayloadInvalid(provider, "malformed_json", "body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer past Python's digit limit
        raise PayloadInvalid(provider, "malformed_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadInvalid(provider, "malformed_event", "body must be a JSON object")
    event_id = "" if id_field is None else document.get(id_field)
    event_type = document.get(type_field)
    fields = [(type_field, event_type)]
    if id_field is not None:
        fields.insert(0, (id_field, event_id))
    for field, value in fields:
        if not isinstance(value, str) or not value:
            raise PayloadInvalid(
                provider, "malformed_event", f"field {field!r} must be a non-empty string"
            )
        if len(value) > MAX_ID_CHARS or not value.isprintable() or not _encodable(value):
            # The inbox column is 255 wide; control characters would forge log lines.
            raise PayloadInvalid(
                provider,
                "malformed_event",
                f"field {field!r} must be at most {MAX_ID_CHARS} printable characters",
            )
    assert isinstance(event_id, str)
    assert isinstance(event_type, str)
    return event_id, event_type, document


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a \ud800 escape
        return False
    return True
