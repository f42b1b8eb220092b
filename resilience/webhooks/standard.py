"""Standard Webhooks signatures (standardwebhooks.com): three headers, ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``, a space-separated list of
``<version>,<base64>``:

- ``v1``: HMAC-SHA256 of ``"{id}.{timestamp}.{raw body}"``, keyed with the base64 bytes of a
  ``whsec_`` secret. Several secrets may be configured (rotation) and several signatures sent.
- ``v1a``: ed25519 over the same bytes; the verifier holds ``whpk_`` public keys, the sender a
  ``whsk_`` private key.

``webhook-id`` is the message id: the same across a provider's retries, so it is the event id
(dedup layer 2). The body is ``{"type": ..., "timestamp": ..., "data": {...}}``. Signatures are
compared as decoded bytes, decoded strictly: base64 has several spellings of the same bytes, and
none of them may pass for a new delivery. Checked against the specification's published test
vector and the ``standardwebhooks`` library both ways (tests).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from resilience.errors import SignatureInvalid
from resilience.webhooks.delivery import MAX_ID_CHARS, VerifiedDelivery, parse_event

__all__ = [
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "StandardVerifier",
    "private_key",
    "public_key",
    "secret_key",
    "sign",
]

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
_HEADERS = (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE)
PROVIDER = "standard"
MAX_SIGNATURES = 16  # a header listing more is refused before any key is tried
ED25519_SIGNATURE_BYTES = 64


def _key_bytes(value: str, prefix: str, what: str, *, size: int | None = None) -> bytes:
    """The bytes of a ``prefix``-ed base64 key; ``ValueError`` names the setting, not the key."""
    text = value.strip().removeprefix(prefix)
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"a {what} must be base64 after {prefix!r} (got {len(value)} characters that are "
            "not); copy it again from the provider's dashboard"
        ) from None
    if not raw or (size is not None and len(raw) != size):
        want = f"{size} bytes" if size else "at least one byte"
        raise ValueError(f"a {what} must decode to {want}, got {len(raw)}")
    return raw


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional)."""
    return _key_bytes(secret, "whsec_", "Standard Webhooks secret (whsec_...)")


def public_key(key: str) -> Ed25519PublicKey:
    """An ed25519 public key from ``whpk_<base64 of 32 bytes>``."""
    raw = _key_bytes(key, "whpk_", "Standard Webhooks public key (whpk_...)", size=32)
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key(key: str) -> Ed25519PrivateKey:
    """An ed25519 private key from ``whsk_<base64>``: the 32-byte seed, or the 64 bytes of the
    seed followed by the public key (as libsodium keeps it)."""
    raw = _key_bytes(key, "whsk_", "Standard Webhooks signing key (whsk_...)")
    if len(raw) not in (32, 64):
        raise ValueError(f"a Standard Webhooks signing key must be 32 or 64 bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw[:32])


def _content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(
    body: bytes,
    msg_id: str,
    *,
    secrets: Sequence[str] = (),
    signing_keys: Sequence[str] = (),
    timestamp: int | None = None,
) -> dict[str, str]:  # pragma: no mutate block (the provider's side: fakes and tests sign with it)
    """The three headers of a delivery of ``body``: one ``v1`` per secret, one ``v1a`` per
    signing key.

    Example::

        headers = sign(body, "msg_1", secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    """
    if not secrets and not signing_keys:
        raise ValueError("sign needs a whsec_ secret or a whsk_ signing key")
    t = int(time.time()) if timestamp is None else timestamp
    content = _content(msg_id, t, body)
    signatures = [
        "v1," + base64.b64encode(hmac.new(secret_key(s), content, hashlib.sha256).digest()).decode()
        for s in secrets
    ] + ["v1a," + base64.b64encode(private_key(k).sign(content)).decode() for k in signing_keys]
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(t), HEADER_SIGNATURE: " ".join(signatures)}


class StandardVerifier:
    """Verify Standard Webhooks deliveries.

    Parameters:
        secrets: ``whsec_`` secrets for ``v1``; any may match (several while one is rotated).
        public_keys: ``whpk_`` keys for ``v1a``; any may match.
        tolerance_s: how far the signed timestamp may be from now, in the past or the future.
        clock: returns the current Unix time.
        provider: the name deliveries are stored and counted under.
    """

    def __init__(
        self,
        secrets: Sequence[str] = (),
        public_keys: Sequence[str] = (),
        *,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        provider: str = PROVIDER,
    ) -> None:
        if not secrets and not public_keys:
            raise ValueError(
                "StandardVerifier needs at least one whsec_ secret or whpk_ public key"
            )
        self._keys = tuple(secret_key(s) for s in secrets)
        self._public = tuple(public_key(k) for k in public_keys)
        self.tolerance_s = tolerance_s
        self._clock = clock
        self.provider = provider

    def _refuse(self, reason: str, message: str) -> SignatureInvalid:
        return SignatureInvalid(self.provider, reason, message)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        msg_id, stamp, header = (headers.get(h) for h in _HEADERS)
        if not (msg_id and stamp and header):
            missing = [h for h, v in zip(_HEADERS, (msg_id, stamp, header), strict=True) if not v]
            raise self._refuse("missing_signature", f"missing header(s): {', '.join(missing)}")
        if len(msg_id) > MAX_ID_CHARS or not msg_id.isprintable() or not msg_id.isascii():
            raise self._refuse(
                "malformed_signature",
                f"{HEADER_ID} must be at most {MAX_ID_CHARS} printable ASCII characters",
            )
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            raise self._refuse(
                "malformed_signature", f"{HEADER_TIMESTAMP}={stamp[:20]!r} is not a Unix time"
            )
        timestamp = int(stamp)
        skew = self._clock() - timestamp
        if abs(skew) > self.tolerance_s:
            raise self._refuse(
                "stale_timestamp",
                f"signed {abs(skew):.0f} s {'ago' if skew > 0 else 'in the future'}; "
                f"tolerance is {self.tolerance_s:g} s (check the sender's clock)",
            )
        hmacs, eds = self._parse(header)
        content = _content(msg_id, timestamp, body)
        matched = False
        if hmacs and self._keys:
            expected = [hmac.new(k, content, hashlib.sha256).digest() for k in self._keys]
            # Every pair is compared so timing does not reveal which secret matched.
            for candidate in hmacs:
                for want in expected:
                    matched |= hmac.compare_digest(candidate, want)
        for signature in eds if not matched else ():
            for key in self._public:
                try:
                    key.verify(signature, content)
                    matched = True
                except InvalidSignature:
                    continue
        if not matched:
            raise self._refuse(
                "bad_signature", "no v1 or v1a signature matches the body and a configured key"
            )
        _, event_type, document = parse_event(self.provider, body, id_field=None, type_field="type")
        return VerifiedDelivery(
            provider=self.provider,
            event_id=msg_id,
            event_type=event_type,
            payload=body,
            document=document,
            # A retry is signed anew with a new timestamp: a new delivery of the same message.
            delivery_key=f"{msg_id}.{timestamp}",
            signed_at=datetime.fromtimestamp(timestamp, UTC),
        )

    def _parse(self, header: str) -> tuple[list[bytes], list[bytes]]:
        items = header.split()
        if len(items) > MAX_SIGNATURES:
            raise self._refuse(
                "malformed_signature",
                f"{HEADER_SIGNATURE} lists {len(items)} signatures; at most {MAX_SIGNATURES}",
            )
        hmacs: list[bytes] = []
        eds: list[bytes] = []
        for item in items:
            version, sep, value = item.partition(",")
            if not sep or version not in ("v1", "v1a"):
                continue  # a scheme from a later version of the specification
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            if base64.b64encode(raw).decode() != value:
                continue  # not the canonical spelling of those bytes
            if version == "v1" and len(raw) == hashlib.sha256().digest_size:
                hmacs.append(raw)
            elif version == "v1a" and len(raw) == ED25519_SIGNATURE_BYTES:
                eds.append(raw)
        if not hmacs and not eds:
            raise self._refuse(
                "malformed_signature",
                f"{HEADER_SIGNATURE} needs at least one v1,<base64> or v1a,<base64> signature",
            )
        return hmacs, eds
