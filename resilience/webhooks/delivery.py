"""What a verified webhook delivery is, and the contract every provider's verifier fulfils."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from resilience.errors import PayloadInvalid

__all__ = ["VerifiedDelivery", "Verifier", "parse_event"]


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature checked out.

    Attributes:
        provider: ``stripe`` or ``paypal``.
        event_id: the provider's event id; unique per provider for ever (dedup layer 2).
        event_type: e.g. ``payment_intent.succeeded``.
        payload: the raw body, exactly as signed.
        document: the parsed JSON body.
        delivery_key: identifies this one delivery (signature and timestamp); a re-signed retry
            of the same event has another key (dedup layer 1).
        signed_at: when the provider signed it.
    """

    provider: str
    event_id: str
    event_type: str
    payload: bytes
    document: Mapping[str, Any]
    delivery_key: str
    signed_at: datetime


class Verifier(Protocol):
    """Checks one provider's signature scheme."""

    provider: str

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        """Verify ``body`` against the signature in ``headers`` (keys lower-case), then parse it.

        Raises:
            SignatureInvalid: no, malformed, stale or wrong signature.
            PayloadInvalid: the signed body is not a JSON event with an id and a type.
            CertificateUnavailable: a key needed to verify cannot be fetched right now.
        """
        ...


def parse_event(
    provider: str, body: bytes, *, id_field: str, type_field: str
) -> tuple[str, str, Mapping[str, Any]]:
    """``(event_id, event_type, document)`` from a JSON body.

    Raises:
        PayloadInvalid: naming what is wrong with the body.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(provider, "malformed_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadInvalid(provider, "malformed_event", "body must be a JSON object")
    event_id, event_type = document.get(id_field), document.get(type_field)
    for field, value in ((id_field, event_id), (type_field, event_type)):
        if not isinstance(value, str) or not value:
            raise PayloadInvalid(
                provider, "malformed_event", f"field {field!r} must be a non-empty string"
            )
    assert isinstance(event_id, str)
    assert isinstance(event_type, str)
    return event_id, event_type, document
