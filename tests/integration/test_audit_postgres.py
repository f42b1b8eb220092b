"""The audit trail on a real PostgreSQL: the database itself refuses UPDATE, DELETE and TRUNCATE;
rows land in monthly partitions that ``maintain`` creates ahead and archives; the chain holds
under concurrent writers (the advisory lock) and continues from the archive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from resilience.audit import Actor, AuditTrail
from resilience.audit.partitions import archive_anchor, list_partitions, maintain, month_start
from resilience.shop import migrate
from resilience.shop.db import normalise_url


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate.upgrade(postgres_url)
    e = create_engine(normalise_url(postgres_url))
    yield e
    e.dispose()


def record(engine: Engine, trail: AuditTrail, entity_id: int) -> None:
    with sessionmaker(engine).begin() as session:
        trail.record(
            session,
            action="refund_created",
            entity_type="Order",
            entity_id=entity_id,
            actor=Actor("bob"),
            before={"refunded_cents": 0},
            after={"refunded_cents": 500},
            metadata={"kind": "partial", "amount_cents": 500},
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_logs SET user_id = 'mallory'",
        "DELETE FROM audit_logs",
        "TRUNCATE audit_logs",
    ],
)
def test_postgresql_refuses_changes_to_the_trail(engine: Engine, statement: str) -> None:
    record(engine, AuditTrail(), 1)
    with pytest.raises(DBAPIError, match="audit_logs is append-only"), engine.begin() as c:
        c.execute(text(statement))
    with engine.connect() as c:
        assert c.execute(text("select count(*) from audit_logs")).scalar() == 1


def test_rows_land_in_this_months_partition(engine: Engine) -> None:
    record(engine, AuditTrail(), 1)
    now = datetime.now(UTC)
    with engine.connect() as c:
        where = c.execute(text("select tableoid::regclass::text from audit_logs")).scalar()
        assert where == f"audit_logs_{now:%Y_%m}"
        assert f"audit_logs_{now:%Y_%m}" in list_partitions(c)


def test_concurrent_writers_keep_one_chain(engine: Engine) -> None:
    trail = AuditTrail(key=b"k")
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for i in range(20):
                record(engine, trail, base + i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = trail.verify(engine)
    assert (result.ok, result.rows, result.last_seq) == (True, 80, 80)


def test_old_partitions_are_archived_and_the_chain_continues_from_them(engine: Engine) -> None:
    class Clock:
        now = datetime(2025, 1, 10, tzinfo=UTC)

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    trail = AuditTrail(clock=clock)
    maintain(engine, now=clock.now, ahead_months=2)  # 2025-01 .. 2025-03
    for month in range(3):
        clock.now = datetime(2025, 1 + month, 10, tzinfo=UTC)
        record(engine, trail, month)
    clock.now = datetime.now(UTC)
    record(engine, trail, 99)

    plan = maintain(engine, now=datetime(2026, 3, 15, tzinfo=UTC), keep_months=12, ahead_months=1)
    # Months that ended on or before 2025-03-01 (twelve months before March 2026) go.
    assert plan.archived == ["audit_logs_2025_01", "audit_logs_2025_02"]
    assert "audit_logs_2026_03" in plan.created or "audit_logs_2026_03" in plan.existing
    with engine.connect() as c:
        live = c.execute(text("select seq from audit_logs order by seq")).scalars().all()
        assert live == [3, 4]
        archived = c.execute(text("select count(*) from audit_archive.audit_logs_2025_01"))
        assert archived.scalar() == 1
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(text("delete from audit_archive.audit_logs_2025_02"))

    anchor = archive_anchor(engine)
    assert anchor is not None and anchor.seq == 2
    assert trail.verify(engine, anchor=anchor).ok
    # Without the anchor, the live chain does not start at 1: rows 1..2 are "missing".
    unanchored = trail.verify(engine)
    assert not unanchored.ok and unanchored.broken_seq == 1


def test_partitions_are_refused_on_sqlite(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with pytest.raises(RuntimeError, match="need PostgreSQL; this database is sqlite"):
        maintain(engine, now=datetime.now(UTC) + timedelta(days=1))
    engine.dispose()


def test_the_partitions_command_plans_creates_and_refuses_sqlite(
    engine: Engine, postgres_url: str, sqlite_url: str
) -> None:
    import json
    import os
    import subprocess

    from tests.support.shop import shop_command

    def shop(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": url, "SHOP_ALERTS_ENABLED": "false"}
        return subprocess.run(
            [*shop_command(), "audit", "partitions", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    now = datetime.now(UTC)
    far = f"audit_logs_{month_start(now, 5):%Y_%m}"
    plan = shop(postgres_url, "--ahead", "5", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert far in json.loads(plan.stdout)["created"]
    with engine.connect() as c:
        assert far not in list_partitions(c)  # a dry run changes nothing
    done = shop(postgres_url, "--ahead", "5", "--json")
    assert done.returncode == 0, done.stderr
    with engine.connect() as c:
        assert far in list_partitions(c)
    migrate.upgrade(sqlite_url)
    refused = shop(sqlite_url)
    assert refused.returncode == 2
    assert "audit partitions need PostgreSQL; this database is sqlite" in refused.stderr
