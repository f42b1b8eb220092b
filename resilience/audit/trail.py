"""Write, read and verify the audit trail.

Every row stores the hash of the row before it and its own hash over its whole content, so an
edited, deleted or inserted row breaks the chain where it happened. With a key
(``SHOP_AUDIT_HMAC_KEY``) the hash is an HMAC: someone who can write to the database but does not
hold the key cannot forge a consistent chain. Rows are appended under a lock (PostgreSQL: a
transaction-scoped advisory lock) held until the action's transaction commits, so the chain
order is the commit order and a rolled-back action leaves no row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from resilience.audit.models import AuditLog

__all__ = ["GENESIS", "Actor", "AuditEntry", "AuditTrail", "Verification", "row_hash"]

GENESIS = "0" * 64
#: pg_advisory_xact_lock key of the chain ("audit" in ASCII).
LOCK_KEY = 0x6175646974


@dataclass(frozen=True)
class Actor:
    """Who did it: a user (API: the ``X-Actor`` header, CLI: ``--actor`` or the login name) or a
    system component (``system:webhooks``), and from where."""

    user_id: str
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(f"system:{component}")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    created_at: datetime
    action: str
    entity_type: str
    entity_id: str
    user_id: str | None
    ip_address: str | None
    user_agent: str | None
    metadata: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: AuditLog) -> AuditEntry:
        return cls(
            seq=row.seq,
            created_at=row.created_at,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            user_id=row.user_id,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            metadata=row.meta,
            before=row.before_state,
            after=row.after_state,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )

    @property
    def entity(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class Verification:
    """The outcome of :meth:`AuditTrail.verify`: ``ok``, or the first broken row and why."""

    ok: bool
    rows: int
    first_seq: int | None = None
    last_seq: int | None = None
    broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _canonical(values: Mapping[str, Any]) -> bytes:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: AuditLog, key: bytes | None) -> str:
    """The hash of a row's content and its link to the previous row."""
    content = _canonical(
        {
            "seq": row.seq,
            "created_at": row.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "action": row.action,
            "entity_type": row.entity_type,
            "entity_id": row.entity_id,
            "user_id": row.user_id,
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
            "metadata": row.meta,
            "before": row.before_state,
            "after": row.after_state,
            "prev_hash": row.prev_hash,
        }
    )
    if key:
        return hmac.new(key, content, hashlib.sha256).hexdigest()
    return hashlib.sha256(content).hexdigest()


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Round-trip through JSON now, so the hash covers exactly what the database returns."""
    if value is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(dict(value), default=str))
    return loaded


class AuditTrail:
    """The audit trail of one database.

    Parameters:
        key: HMAC key for the chain; ``None`` hashes with plain SHA-256.
        clock: returns the current UTC time.
        enabled: ``False`` writes nothing (only to show that a check catches a missing trail).
    """

    def __init__(
        self,
        *,
        key: bytes | None = None,
        clock: Callable[[], datetime] | None = None,
        enabled: bool = True,
    ) -> None:
        self._key = key or None
        self._clock = clock or (lambda: datetime.now(UTC))
        self.enabled = enabled

    def record(
        self,
        session: Session,
        *,
        action: str,
        entity_type: str,
        entity_id: object,
        actor: Actor,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AuditLog | None:
        """Append a row in ``session``'s transaction: it commits or rolls back with the action.
        Returns it, or ``None`` when the trail is switched off."""
        if not self.enabled:
            return None
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        last = session.execute(
            select(AuditLog.seq, AuditLog.hash).order_by(AuditLog.seq.desc()).limit(1)
        ).first()
        now = self._clock()
        row = AuditLog(
            seq=(last.seq if last else 0) + 1,
            created_at=now,
            updated_at=now,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            user_id=actor.user_id,
            ip_address=actor.ip_address,
            user_agent=(actor.user_agent or None) and actor.user_agent[:512],
            meta=_jsonable(metadata) or {},
            before_state=_jsonable(before),
            after_state=_jsonable(after),
            prev_hash=last.hash if last else GENESIS,
        )
        row.hash = row_hash(row, self._key)
        session.add(row)
        session.flush()
        return row

    def entries(
        self,
        session: Session,
        *,
        entity: tuple[str, str] | None = None,
        action: str | None = None,
        actions: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries matching the filters (``actions``: any of them), oldest
        first."""
        query = select(AuditLog).order_by(AuditLog.seq.desc()).limit(limit)
        if entity is not None:
            query = query.where(AuditLog.entity_type == entity[0], AuditLog.entity_id == entity[1])
        if action is not None:
            query = query.where(AuditLog.action == action)
        if actions:
            query = query.where(AuditLog.action.in_(list(actions)))
        if since is not None:
            query = query.where(AuditLog.created_at >= since)
        return [AuditEntry.from_row(r) for r in reversed(list(session.scalars(query)))]

    def verify(self, engine: Engine, *, anchor: AuditEntry | None = None) -> Verification:
        """Walk the chain in ``seq`` order and name the first row that breaks it.

        ``anchor`` is the last archived row when older partitions were archived: the first live
        row must follow it. Without one the chain must start at seq 1.
        """
        with Session(engine) as session:
            rows = session.scalars(
                select(AuditLog)
                .order_by(AuditLog.seq, AuditLog.created_at)
                .execution_options(yield_per=1000)
            )
            try:
                return self.verify_rows(rows, anchor)
            finally:
                rows.close()  # a server-side cursor when the walk stops early

    def verify_rows(
        self, rows: Iterable[AuditLog], anchor: AuditEntry | None = None
    ) -> Verification:
        expected_seq = anchor.seq + 1 if anchor else 1
        expected_prev = anchor.hash if anchor else GENESIS
        count = 0
        first: int | None = None
        for row in rows:
            count += 1
            first = row.seq if first is None else first
            broken = self._check(row, expected_seq, expected_prev)
            if broken is not None:
                seq, reason = broken
                return Verification(False, count, first, row.seq, seq, reason)
            expected_seq, expected_prev = row.seq + 1, row.hash
        return Verification(True, count, first, expected_seq - 1 if count else None)

    def _check(self, row: AuditLog, seq: int, prev: str) -> tuple[int, str] | None:
        """The first broken seq and why, or None when ``row`` continues the chain."""
        if row.seq < seq:
            return (
                row.seq,
                f"row seq {row.seq} appears again after row {seq - 1}: a row was inserted",
            )
        if row.seq > seq:
            span = f"{seq}" if row.seq == seq + 1 else f"{seq}..{row.seq - 1}"
            return seq, f"row seq {span} is missing before row {row.seq}: deleted"
        if row.prev_hash != prev:
            return row.seq, (
                f"row seq {row.seq} does not link to row {row.seq - 1}: the row before it was "
                "rewritten, or this one was inserted"
            )
        if row_hash(row, self._key) != row.hash:
            return row.seq, (
                f"row seq {row.seq} ({row.action} {row.entity_type}:{row.entity_id}) was "
                "edited: its content does not match its hash"
            )
        return None
