"""Provider keys written as ``prefix_`` + base64 (Standard Webhooks' ``whsec_``/``whsk_``):
decoded where a scenario is loaded (to refuse a bad one at its line) and where the harness signs.
"""

from __future__ import annotations

import base64

__all__ = ["decode_key"]


def decode_key(value: str, prefix: str) -> bytes:
    """The bytes of ``prefix`` + base64 (padding optional); ``ValueError`` names the prefix,
    never the key."""
    text = value.strip().removeprefix(prefix)
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:  # binascii.Error is one
        raise ValueError(f"the {prefix} key is not base64 after its prefix") from None
    if not raw:
        raise ValueError(f"the {prefix} key is empty")
    return raw
