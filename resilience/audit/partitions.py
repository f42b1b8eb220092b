"""Monthly partitions of ``audit_logs`` on PostgreSQL: create the coming ones, archive old ones.

A month's partition is ``audit_logs_YYYY_MM``; rows of a month without one land in
``audit_logs_default``, so an insert never fails. Archiving detaches a partition and moves it to
the ``audit_archive`` schema, where it stays read-only (the same trigger refuses UPDATE and
DELETE) and out of the hot table's indexes; ``shop audit verify`` anchors the live chain on the
last archived row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from resilience.audit.models import AuditLog
from resilience.audit.trail import AuditEntry

__all__ = [
    "ARCHIVE_SCHEMA",
    "PartitionPlan",
    "archive_anchor",
    "is_partition_name",
    "list_partitions",
    "maintain",
    "month_start",
]

ARCHIVE_SCHEMA = "audit_archive"
_NAME = re.compile(r"audit_logs_(default|\d{4}_\d{2})")


def is_partition_name(name: str | None) -> bool:
    """Partitions are managed here, not by the models (Alembic's comparison skips them)."""
    return name is not None and _NAME.fullmatch(name) is not None


def month_start(moment: datetime, shift: int = 0) -> datetime:
    """The first instant of ``moment``'s month, ``shift`` months later (or earlier)."""
    index = moment.year * 12 + moment.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PartitionPlan:
    created: list[str]
    archived: list[str]
    existing: list[str]

    def to_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "archived": self.archived, "existing": self.existing}


def list_partitions(connection: Connection) -> list[str]:
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_logs' "
            "ORDER BY c.relname"
        )
    )
    return [r[0] for r in rows]


def maintain(
    engine: Engine,
    *,
    now: datetime,
    ahead_months: int = 3,
    keep_months: int = 12,
    dry_run: bool = False,
) -> PartitionPlan:
    """Create partitions up to ``ahead_months`` after this month; archive those that ended more
    than ``keep_months`` months before this month began.

    Raises:
        RuntimeError: not PostgreSQL.
    """
    if engine.dialect.name != "postgresql":
        raise RuntimeError(
            f"audit partitions need PostgreSQL; this database is {engine.dialect.name}"
        )
    created: list[str] = []
    archived: list[str] = []
    with engine.begin() as connection:
        existing = list_partitions(connection)
        for shift in range(ahead_months + 1):
            lower, upper = month_start(now, shift), month_start(now, shift + 1)
            name = f"audit_logs_{lower:%Y_%m}"
            if name in existing:
                continue
            created.append(name)
            if not dry_run:
                connection.execute(
                    text(
                        f"CREATE TABLE {name} PARTITION OF audit_logs "
                        f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
                    )
                )
        oldest_kept = month_start(now, -keep_months)
        for name in existing:
            match = _NAME.fullmatch(name)
            if match is None or match.group(1) == "default":
                continue
            year, month = map(int, match.group(1).split("_"))
            if month_start(datetime(year, month, 1, tzinfo=UTC), 1) > oldest_kept:
                continue
            archived.append(name)
            if not dry_run:
                connection.execute(text(f"ALTER TABLE audit_logs DETACH PARTITION {name}"))
                connection.execute(text(f"ALTER TABLE {name} SET SCHEMA {ARCHIVE_SCHEMA}"))
                connection.execute(
                    text(
                        f"CREATE TRIGGER audit_archive_read_only BEFORE UPDATE OR DELETE ON "
                        f"{ARCHIVE_SCHEMA}.{name} FOR EACH ROW "
                        "EXECUTE FUNCTION audit_logs_refuse_change()"
                    )
                )
    return PartitionPlan(created, archived, existing)


def archive_anchor(engine: Engine) -> AuditEntry | None:
    """The last archived row (the live chain continues from it), or None."""
    if engine.dialect.name != "postgresql":
        return None
    with Session(engine) as session:
        tables = session.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s "
                "AND tablename LIKE 'audit_logs_%' ORDER BY tablename DESC"
            ),
            {"s": ARCHIVE_SCHEMA},
        ).all()
        for table in tables:
            if not is_partition_name(table):
                continue  # only our own partition names are ever put into SQL text
            last = f"SELECT * FROM {ARCHIVE_SCHEMA}.{table} ORDER BY seq DESC LIMIT 1"  # noqa: S608
            row = session.scalars(select(AuditLog).from_statement(text(last))).first()
            if row is not None:
                return AuditEntry.from_row(row)
    return None
