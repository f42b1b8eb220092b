"""Webhook inbox (unique per provider and event id) and dead letters; provider refund ids.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("received_at", Ts, nullable=False),
        sa.Column("processed_at", Ts, nullable=True),
        sa.Column("updated_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_webhook_events_provider_event_id")
        ),
    )
    op.create_index(op.f("ix_webhook_events_received_at"), "webhook_events", ["received_at"])
    op.create_index(op.f("ix_webhook_events_status"), "webhook_events", ["status"])

    op.create_table(
        "webhook_failures",
        sa.Column("id", Id, nullable=False),
        sa.Column("webhook_event_id", Id, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("last_retry_at", Ts, nullable=True),
        sa.Column("replayed_by", sa.String(255), nullable=True),
        sa.Column("resolved_at", Ts, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_failures_webhook_event_id_webhook_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_failures")),
        sa.UniqueConstraint("webhook_event_id", name=op.f("uq_webhook_failures_webhook_event_id")),
    )
    op.create_index(op.f("ix_webhook_failures_updated_at"), "webhook_failures", ["updated_at"])

    with op.batch_alter_table("refunds") as batch:  # batch: SQLite rebuilds the table
        batch.add_column(sa.Column("provider_ref", sa.String(255), nullable=True))
        batch.create_unique_constraint(op.f("uq_refunds_provider_ref"), ["provider_ref"])


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint(op.f("uq_refunds_provider_ref"), type_="unique")
        batch.drop_column("provider_ref")
    op.drop_table("webhook_failures")
    op.drop_table("webhook_events")
