"""The audit chain's head, anchored outside its table.

A hash chain shows an edited or a deleted row *inside* the chain, but not a cut tail: delete the
newest rows (after dropping the trigger that forbids it) and what is left is still a valid chain.
A checkpoint records the head — its seq and hash, and when — in a file the database cannot
reach, signed with the chain's HMAC key. ``shop audit verify`` then also checks that the row the
checkpoint saw is still there with the same hash: a tail cut below the checkpoint, or a chain
rewritten since, is named. Rows after the newest checkpoint stay unanchored until the next one
(``shop worker`` writes one every ``SHOP_AUDIT_CHECKPOINT_INTERVAL_S``; ``shop audit checkpoint``
writes one on demand).

Without an HMAC key the checkpoint is a plain record: it still catches a cut tail, but whoever
can write the file can rewrite it with the chain. The service warns loudly in that case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from resilience.audit.models import AuditLog
from resilience.errors import ConfigurationError

__all__ = ["Checkpoint", "check_against", "read_checkpoint", "take_checkpoint"]

MAX_BYTES = 4096  # a checkpoint is one small JSON object; anything larger is not one


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at ``at``: row ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    at: str
    signature: str | None = None  # HMAC-SHA256 of the other fields; None without a key

    def message(self) -> bytes:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at}).encode()


def _sign(checkpoint: Checkpoint, key: bytes | None) -> str | None:
    return hmac.new(key, checkpoint.message(), hashlib.sha256).hexdigest() if key else None


def take_checkpoint(
    engine: Engine, path: Path, *, key: bytes | None, now: datetime | None = None
) -> Checkpoint | None:
    """Record the chain's head in ``path`` (atomically: a reader sees the old or the new one).
    None, writing nothing, when the chain is empty."""
    with Session(engine) as session:
        head = session.execute(
            select(AuditLog.seq, AuditLog.hash).order_by(AuditLog.seq.desc()).limit(1)
        ).first()
    if head is None:
        return None
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    unsigned = Checkpoint(head.seq, head.hash, when)
    checkpoint = Checkpoint(head.seq, head.hash, when, _sign(unsigned, key))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(checkpoint)) + "\n")
    tmp.replace(path)
    return checkpoint


def read_checkpoint(path: Path, *, key: bytes | None) -> Checkpoint | None:
    """The checkpoint in ``path``; None when there is none yet.

    Raises:
        ConfigurationError: the file is not a checkpoint, or its signature does not match the
            key (it was forged, or the key changed).
    """
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigurationError(f"audit checkpoint {path} is not a checkpoint (too large)")
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"audit checkpoint {path} cannot be read: {exc}") from None
    try:
        data = json.loads(raw)
        checkpoint = Checkpoint(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            at=str(data["at"]),
            signature=None if data.get("signature") is None else str(data["signature"]),
        )
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(
            f"audit checkpoint {path} is not a checkpoint (JSON with seq, hash, at)"
        ) from None
    expected = _sign(checkpoint, key)
    if expected is not None and not hmac.compare_digest(expected, checkpoint.signature or ""):
        raise ConfigurationError(
            f"audit checkpoint {path} is not signed with SHOP_AUDIT_HMAC_KEY: it was forged, or "
            "the key changed (take a new one with `shop audit checkpoint` once the chain is "
            "verified)"
        )
    return checkpoint


def check_against(engine: Engine, checkpoint: Checkpoint) -> str | None:
    """Why the chain does not hold what ``checkpoint`` saw, or None when it does."""
    with Session(engine) as session:
        row_hash = session.scalar(select(AuditLog.hash).where(AuditLog.seq == checkpoint.seq))
        last = session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1))
    if row_hash is None:
        return (
            f"the checkpoint of {checkpoint.at} saw row seq {checkpoint.seq}, and the chain now "
            f"ends at {last or 0}: its tail was cut"
        )
    if row_hash != checkpoint.hash:
        return (
            f"row seq {checkpoint.seq} has another hash than at the checkpoint of "
            f"{checkpoint.at}: the chain was rewritten"
        )
    return None
