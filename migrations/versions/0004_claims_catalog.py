"""index event claims and feed details; finding resolutions; catalog state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("author", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_index_events_lease_until"), ["lease_until"], unique=False
        )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
    op.create_table(
        "catalog_state",
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("names", sa.Integer(), nullable=False),
        sa.Column("prefixes", sa.Integer(), nullable=False),
        sa.Column("allow", sa.Integer(), nullable=False),
        sa.Column("owners", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_catalog_state")),
    )


def downgrade() -> None:
    op.drop_table("catalog_state")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("resolution")
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_events_lease_until"))
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("author")
        batch_op.drop_column("published_at")
        batch_op.drop_column("version")
