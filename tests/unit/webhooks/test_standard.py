"""Standard Webhooks: the specification's published test vector, the ``standardwebhooks``
library both ways, ed25519 (v1a), rotation, tolerance and malformed or forged headers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import standardwebhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from resilience.errors import PayloadInvalid, SignatureInvalid
from resilience.webhooks.standard import StandardVerifier, sign

# The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-
# webhooks, libraries/*/tests): this secret, id, timestamp and payload sign to this v1.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_800_000_000
SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes....").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the next secret, after rotation").decode()
BODY = json.dumps({"type": "payment.succeeded", "timestamp": "2027-01-15T08:00:00Z",
                   "data": {"order_id": 7}}).encode()  # fmt: skip


def keypair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whsk_" + base64.b64encode(seed).decode(), "whpk_" + base64.b64encode(public).decode()


def verifier(
    secrets: list[str] | None = None, public: list[str] | None = None, *, at: float = NOW
) -> StandardVerifier:
    return StandardVerifier(
        [SECRET] if secrets is None else secrets, public or [], clock=lambda: at
    )


def test_the_published_test_vector_both_ways() -> None:
    headers = sign(VECTOR_PAYLOAD, VECTOR_ID, secrets=[VECTOR_SECRET], timestamp=VECTOR_TIMESTAMP)
    assert headers["webhook-signature"] == VECTOR_SIGNATURE
    body = json.dumps({"type": "test", "data": {}}).encode()  # the vector's body has no type
    with pytest.raises(PayloadInvalid, match="'type'"):
        verifier([VECTOR_SECRET], at=VECTOR_TIMESTAMP).verify(VECTOR_PAYLOAD, headers)
    signed = sign(body, VECTOR_ID, secrets=[VECTOR_SECRET], timestamp=VECTOR_TIMESTAMP)
    delivery = verifier([VECTOR_SECRET], at=VECTOR_TIMESTAMP).verify(body, signed)
    assert (delivery.provider, delivery.event_id, delivery.event_type) == (
        "standard",
        VECTOR_ID,
        "test",
    )


def test_the_library_accepts_what_we_sign_and_we_accept_what_it_signs() -> None:
    ours = sign(BODY, "msg_ours", secrets=[SECRET])  # now: the library checks its own clock
    assert standardwebhooks.Webhook(SECRET).verify(BODY, ours)["data"] == {"order_id": 7}
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(BODY + b" ", ours)
    theirs = standardwebhooks.Webhook(SECRET).sign(
        "msg_theirs", datetime.fromtimestamp(NOW, UTC), BODY.decode()
    )
    headers = {
        "webhook-id": "msg_theirs",
        "webhook-timestamp": str(NOW),
        "webhook-signature": theirs,
    }
    assert verifier().verify(BODY, headers).event_id == "msg_theirs"


def test_secret_rotation_either_side() -> None:
    both = sign(BODY, "msg_1", secrets=[SECRET, NEW_SECRET], timestamp=NOW)
    assert verifier([NEW_SECRET]).verify(BODY, both)
    only_new = sign(BODY, "msg_1", secrets=[NEW_SECRET], timestamp=NOW)
    assert verifier([SECRET, NEW_SECRET]).verify(BODY, only_new)
    with pytest.raises(SignatureInvalid, match="no v1 or v1a signature matches"):
        verifier([SECRET]).verify(BODY, only_new)


def test_v1a_ed25519_with_public_keys() -> None:
    signing, public = keypair()
    other_signing, other_public = keypair()
    headers = sign(BODY, "msg_ed", signing_keys=[signing], timestamp=NOW)
    assert headers["webhook-signature"].startswith("v1a,")
    assert verifier([], [other_public, public]).verify(BODY, headers).event_id == "msg_ed"
    with pytest.raises(SignatureInvalid, match="no v1 or v1a signature matches"):
        verifier([], [other_public]).verify(BODY, headers)
    tampered = {**headers, "webhook-id": "msg_other"}  # the id is signed too
    with pytest.raises(SignatureInvalid):
        verifier([], [public]).verify(BODY, tampered)
    # A 64-byte libsodium key (seed + public) signs the same.
    seed = base64.b64decode(signing.removeprefix("whsk_"))
    long_form = "whsk_" + base64.b64encode(seed + base64.b64decode(public[5:])).decode()
    assert sign(BODY, "m", signing_keys=[long_form], timestamp=NOW) == sign(
        BODY, "m", signing_keys=[signing], timestamp=NOW
    )
    # Both kinds in one header: a verifier that knows either accepts it.
    mixed = sign(BODY, "msg_mix", secrets=[SECRET], signing_keys=[other_signing], timestamp=NOW)
    assert verifier([], [other_public]).verify(BODY, mixed)
    assert verifier([SECRET]).verify(BODY, mixed)


def test_a_retry_is_a_new_delivery_of_the_same_event() -> None:
    first = verifier().verify(BODY, sign(BODY, "msg_r", secrets=[SECRET], timestamp=NOW - 60))
    retry = verifier().verify(BODY, sign(BODY, "msg_r", secrets=[SECRET], timestamp=NOW))
    assert first.event_id == retry.event_id == "msg_r"  # dedup layer 2: one event
    assert first.delivery_key != retry.delivery_key  # layer 1 sees two deliveries


def test_tolerance_both_directions() -> None:
    old = sign(BODY, "msg_t", secrets=[SECRET], timestamp=NOW - 301)
    with pytest.raises(SignatureInvalid, match="301 s ago; tolerance is 300 s"):
        verifier().verify(BODY, old)
    early = sign(BODY, "msg_t", secrets=[SECRET], timestamp=NOW + 301)
    with pytest.raises(SignatureInvalid, match="in the future"):
        verifier().verify(BODY, early)
    edge = sign(BODY, "msg_t", secrets=[SECRET], timestamp=NOW - 300)
    assert verifier().verify(BODY, edge)


def test_another_spelling_of_the_same_signature_is_refused() -> None:
    headers = sign(BODY, "msg_s", secrets=[SECRET], timestamp=NOW)
    value = headers["webhook-signature"].removeprefix("v1,")
    # 32 bytes are 44 base64 characters ending in "="; the last data character carries two
    # unused bits, so three more spellings decode to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(value[-2])
    for spare in (1, 2, 3):
        variant = value[:-2] + alphabet[(last & ~3) | ((last + spare) & 3)] + "="
        assert base64.b64decode(variant) == base64.b64decode(value)
        with pytest.raises(SignatureInvalid, match="needs at least one"):
            verifier().verify(BODY, {**headers, "webhook-signature": f"v1,{variant}"})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": None}, "missing_signature"),
        ({"webhook-signature": ""}, "missing_signature"),
        ({"webhook-timestamp": "yesterday"}, "malformed_signature"),
        ({"webhook-timestamp": "-5"}, "malformed_signature"),
        ({"webhook-timestamp": "9" * 40}, "malformed_signature"),
        ({"webhook-id": "msg\x1b[2J"}, "malformed_signature"),
        ({"webhook-id": "m" * 256}, "malformed_signature"),
        ({"webhook-signature": "v2,abc"}, "malformed_signature"),
        ({"webhook-signature": "v1,not base64!"}, "malformed_signature"),
        ({"webhook-signature": "v1"}, "malformed_signature"),
        ({"webhook-signature": " ".join(["v1,AAAA"] * 17)}, "malformed_signature"),
        ({"webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode()}, "bad_signature"),
    ],
)
def test_malformed_and_forged_headers_are_refused_with_a_reason(
    change: dict[str, str | None], reason: str
) -> None:
    headers: dict[str, str | None] = {**sign(BODY, "msg_h", secrets=[SECRET], timestamp=NOW)}
    headers.update(change)
    present = {k: v for k, v in headers.items() if v is not None}
    with pytest.raises(SignatureInvalid) as caught:
        verifier().verify(BODY, present)
    assert caught.value.reason == reason


def test_bad_keys_are_named_without_being_printed() -> None:
    with pytest.raises(ValueError, match=r"whsec_.*must be base64") as caught:
        StandardVerifier(["whsec_not*base64*at*all"])
    assert "not*base64" not in str(caught.value)
    with pytest.raises(ValueError, match="32 bytes, got 3"):
        StandardVerifier([], ["whpk_" + base64.b64encode(b"abc").decode()])
    with pytest.raises(ValueError, match="at least one whsec_ secret or whpk_ public key"):
        StandardVerifier()
