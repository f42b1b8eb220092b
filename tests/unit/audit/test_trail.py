"""The audit trail on SQLite: rows chain, the database refuses edits, and verification names the
first edited, deleted or inserted row; an action that rolls back leaves no row."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import Actor, AuditTrail
from resilience.audit.models import AuditLog
from resilience.audit.trail import GENESIS, row_hash
from resilience.shop import migrate

KEY = b"audit-key"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_url)
    e = create_engine(sqlite_url)
    yield e
    e.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def write(engine: Engine, trail: AuditTrail, n: int) -> None:
    sessions = sessionmaker(engine)
    for i in range(1, n + 1):
        with sessions.begin() as session:
            trail.record(
                session,
                action="stock_adjusted",
                entity_type="Product",
                entity_id=i,
                actor=Actor("alice", "10.0.0.1", "curl/8"),
                before={"stock": i},
                after={"stock": i + 1},
                metadata={"delta": 1, "reason": "recount"},
            )


def tamper(engine: Engine, sql: str) -> None:
    """What an attacker with write access does: drop the guards, change the table."""
    with engine.begin() as c:
        c.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_update"))
        c.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_delete"))
        c.execute(text(sql))


def test_rows_chain_and_verify(engine: Engine) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 5)
    with Session(engine) as s:
        rows = list(s.query(AuditLog).order_by(AuditLog.seq))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert rows[2].before_state == {"stock": 3} and rows[2].after_state == {"stock": 4}
    assert rows[2].user_id == "alice" and rows[2].ip_address == "10.0.0.1"
    result = trail.verify(engine)
    assert (result.ok, result.rows, result.first_seq, result.last_seq) == (True, 5, 1, 5)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_logs SET user_id = 'x'", "DELETE FROM audit_logs"]
)
def test_the_database_refuses_updates_and_deletes(engine: Engine, statement: str) -> None:
    write(engine, AuditTrail(clock=Clock()), 2)
    with pytest.raises(DatabaseError, match="audit_logs is append-only"), engine.begin() as c:
        c.execute(text(statement))


def test_an_edited_row_is_named(engine: Engine) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 5)
    tamper(engine, "UPDATE audit_logs SET after_state = '{\"stock\": 999}' WHERE seq = 3")
    result = trail.verify(engine)
    assert not result.ok and result.broken_seq == 3
    assert "row seq 3 (stock_adjusted Product:3) was edited" in (result.reason or "")


def test_a_rewritten_row_with_a_recomputed_plain_hash_is_caught_by_the_key(engine: Engine) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 4)
    with Session(engine) as s:
        row = s.get(AuditLog, (2, s.query(AuditLog.created_at).filter_by(seq=2).scalar()))
        assert row is not None
        row.user_id = "mallory"
        forged = row_hash(row, None)  # the attacker has no key
    tamper(engine, f"UPDATE audit_logs SET user_id = 'mallory', hash = '{forged}' WHERE seq = 2")  # noqa: S608
    result = trail.verify(engine)
    assert not result.ok and result.broken_seq == 2


def test_a_deleted_row_is_named(engine: Engine) -> None:
    trail = AuditTrail(clock=Clock())
    write(engine, trail, 6)
    tamper(engine, "DELETE FROM audit_logs WHERE seq IN (3, 4)")
    result = trail.verify(engine)
    assert not result.ok and result.broken_seq == 3
    assert result.reason == "row seq 3..4 is missing before row 5: deleted"


def test_an_inserted_row_is_named(engine: Engine) -> None:
    trail = AuditTrail(clock=Clock())
    write(engine, trail, 4)
    tamper(
        engine,
        "INSERT INTO audit_logs SELECT seq, datetime(created_at, '+1 second'), 'refund_created', "
        "entity_type, entity_id, user_id, ip_address, user_agent, metadata, before_state, "
        "after_state, updated_at, prev_hash, hash FROM audit_logs WHERE seq = 2",
    )
    result = trail.verify(engine)
    assert not result.ok and result.broken_seq == 2
    assert "inserted" in (result.reason or "")


def test_an_empty_trail_verifies(engine: Engine) -> None:
    assert AuditTrail().verify(engine).ok


def test_a_rolled_back_action_leaves_no_row(engine: Engine) -> None:
    trail = AuditTrail(clock=Clock())
    sessions = sessionmaker(engine)

    def refund_that_fails() -> None:
        with sessions.begin() as session:
            trail.record(
                session,
                action="refund_created",
                entity_type="Order",
                entity_id=1,
                actor=Actor.system("test"),
                before={"refunded_cents": 0},
                after={"refunded_cents": 100},
            )
            raise RuntimeError("the refund failed after the audit row was written")

    with pytest.raises(RuntimeError):
        refund_that_fails()
    write(engine, trail, 1)
    with Session(engine) as s:
        assert [r.seq for r in s.query(AuditLog)] == [1]
    assert trail.verify(engine).ok
