"""Bodies with a chosen CRC32: what a forger of PayPal's signature scheme needs.

CRC32 is affine over GF(2): flipping a set of bits of a message of fixed length changes its CRC by
the XOR of the changes each flip makes alone. So with 32 or more independent one-bit flips, any
target CRC is a solvable linear system; flipping bit 1 turns ``a`` into ``c``, keeping JSON valid.
"""

from __future__ import annotations

import zlib

__all__ = ["with_crc32"]


def with_crc32(prefix: bytes, suffix: bytes, target: int, *, pad: int = 64) -> bytes:
    """``prefix + filler + suffix`` whose CRC32 is ``target``; the filler is ``pad`` of a/c."""
    base = bytearray(prefix + b"a" * pad + suffix)
    start = zlib.crc32(bytes(base))
    basis: dict[int, tuple[int, int]] = {}  # pivot bit -> (CRC change, flips that make it)
    for i in range(pad):
        flipped = bytearray(base)
        flipped[len(prefix) + i] ^= 0x02
        vector, flips = zlib.crc32(bytes(flipped)) ^ start, 1 << i
        for bit in sorted(basis, reverse=True):
            if vector >> bit & 1:
                vector, flips = vector ^ basis[bit][0], flips ^ basis[bit][1]
        if vector:
            basis[vector.bit_length() - 1] = (vector, flips)
    want, chosen = start ^ target, 0
    for bit in sorted(basis, reverse=True):
        if want >> bit & 1:
            want, chosen = want ^ basis[bit][0], chosen ^ basis[bit][1]
    if want:
        raise ValueError(f"no filler of {pad} reaches CRC32 {target:#010x}; use a longer pad")
    for i in range(pad):
        if chosen >> i & 1:
            base[len(prefix) + i] ^= 0x02
    assert zlib.crc32(bytes(base)) == target
    return bytes(base)
