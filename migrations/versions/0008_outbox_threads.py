"""outbox threads and digests: an alert's thread, its risk for routing, digests

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("risk", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("baseline", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("route", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("thread_ts", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            "fk_alert_outbox_parent_id_alert_outbox", "alert_outbox", ["parent_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_alert_outbox_digest_id_alert_outbox", "alert_outbox", ["digest_id"], ["id"]
        )
        batch_op.create_index("ix_alert_outbox_public_name", ["public_name"], unique=False)
    # Rows queued before routing existed go out as they always did: one message each.
    op.execute(sa.text("UPDATE alert_outbox SET route = 'post'"))


def downgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_outbox_public_name")
        batch_op.drop_constraint("fk_alert_outbox_digest_id_alert_outbox", type_="foreignkey")
        batch_op.drop_constraint("fk_alert_outbox_parent_id_alert_outbox", type_="foreignkey")
    # Digests are no alerts the older code can read; their members it sends one by one.
    op.execute(
        sa.text("DELETE FROM alert_outbox WHERE kind IN ('baseline', 'digest', 'daily', 'list')")
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_column("thread_ts")
        batch_op.drop_column("digest_id")
        batch_op.drop_column("parent_id")
        batch_op.drop_column("route")
        batch_op.drop_column("baseline")
        batch_op.drop_column("risk")
        batch_op.drop_column("kind")
