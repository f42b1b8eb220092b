"""Slow jobs: every job that ran longer than SHOP_SLOW_JOB_THRESHOLD_S.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "slow_jobs",
        sa.Column("id", Id, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slow_jobs")),
    )
    op.create_index(op.f("ix_slow_jobs_message_id"), "slow_jobs", ["message_id"])
    op.create_index(op.f("ix_slow_jobs_job"), "slow_jobs", ["job"])
    op.create_index(op.f("ix_slow_jobs_started_at"), "slow_jobs", ["started_at"])


def downgrade() -> None:
    op.drop_table("slow_jobs")
