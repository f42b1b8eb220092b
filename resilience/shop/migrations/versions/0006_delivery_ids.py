"""A delivery id is unique with one body; a provider's payment is recorded once per outcome.

``webhook_events`` gains the provider's delivery id (PayPal's transmission id) and the body's
SHA-256: a genuine delivery's headers replayed over a crafted body (PayPal signs the body only
through CRC32) is refused even when the anti-loop cache is down. ``payments`` gains a unique index
so two workers cannot both record one provider payment where row locks are no-ops (SQLite).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_events", sa.Column("payload_sha256", sa.String(64), nullable=True))
    op.add_column("webhook_events", sa.Column("delivery_id", sa.String(255), nullable=True))
    op.create_index(
        "uq_webhook_events_delivery", "webhook_events", ["provider", "delivery_id"], unique=True
    )
    op.create_index(
        "uq_payments_provider_ref",
        "payments",
        ["order_id", "provider", "provider_ref", "succeeded"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_payments_provider_ref", table_name="payments")
    op.drop_index("uq_webhook_events_delivery", table_name="webhook_events")
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_column("delivery_id")
        batch.drop_column("payload_sha256")
