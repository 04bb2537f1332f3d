"""index listing

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "index_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_events")),
    )
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_index_events_normalized_name"), ["normalized_name"], unique=False
        )

    op.create_table(
        "index_projects",
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_serial", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("normalized_name", name=op.f("pk_index_projects")),
    )
    op.create_table(
        "index_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.String(length=512), nullable=True),
        sa.Column("projects", sa.Integer(), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_state")),
    )


def downgrade() -> None:

    op.drop_table("index_state")
    op.drop_table("index_projects")
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_events_normalized_name"))

    op.drop_table("index_events")
