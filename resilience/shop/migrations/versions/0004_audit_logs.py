"""The audit trail: ``audit_logs``, append-only, hash-chained; monthly partitions on PostgreSQL.

On PostgreSQL the table is partitioned by range on ``created_at`` with a DEFAULT partition (so
an insert never fails for want of a partition) and this month's and the next two months'
partitions; ``shop audit partitions`` creates further ones and archives old ones. Triggers refuse
UPDATE, DELETE and TRUNCATE on both backends.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE = "audit_logs is append-only: % refused"


def _months(start: datetime, count: int) -> list[tuple[datetime, datetime]]:
    spans = []
    year, month = start.year, start.month
    for _ in range(count):
        lower = datetime(year, month, 1, tzinfo=UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        spans.append((lower, datetime(year, month, 1, tzinfo=UTC)))
    return spans


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    op.create_table(
        "audit_logs",
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("before_state", sa.JSON(), nullable=True),
        sa.Column("after_state", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", "created_at", name=op.f("pk_audit_logs")),
    )
    _indexes()
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_logs_no_{operation.lower()} BEFORE {operation} ON audit_logs "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSE.replace('%', operation)}'); END"
        )


def _indexes() -> None:
    op.create_index("ix_audit_logs_entity", "audit_logs", ["entity_type", "entity_id"])
    op.create_index("ix_audit_logs_created_at", "audit_logs", ["created_at"])
    op.create_index("ix_audit_logs_action", "audit_logs", ["action"])


def _upgrade_postgresql() -> None:
    op.execute(
        """
        CREATE TABLE audit_logs (
            seq BIGINT NOT NULL,
            created_at TIMESTAMP WITH TIME ZONE NOT NULL,
            action VARCHAR(64) NOT NULL,
            entity_type VARCHAR(64) NOT NULL,
            entity_id VARCHAR(128) NOT NULL,
            user_id VARCHAR(128),
            ip_address VARCHAR(64),
            user_agent VARCHAR(512),
            metadata JSON NOT NULL,
            before_state JSON,
            after_state JSON,
            updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
            prev_hash VARCHAR(64) NOT NULL,
            hash VARCHAR(64) NOT NULL,
            CONSTRAINT pk_audit_logs PRIMARY KEY (seq, created_at)
        ) PARTITION BY RANGE (created_at)
        """
    )
    _indexes()
    op.execute("CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT")
    for lower, upper in _months(datetime.now(UTC), 3):
        op.execute(
            f"CREATE TABLE audit_logs_{lower:%Y_%m} PARTITION OF audit_logs "
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )
    op.execute("CREATE SCHEMA IF NOT EXISTS audit_archive")
    op.execute(
        f"""
        CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{REFUSE}', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_logs CASCADE")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_change() CASCADE")
        op.execute("DROP SCHEMA IF EXISTS audit_archive")  # refuses while archives exist
        return
    op.drop_table("audit_logs")
