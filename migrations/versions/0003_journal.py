"""journal cursor; feed gap counter; index_projects clustered by name on SQLite

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_state")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Copy the table into a WITHOUT ROWID one (clustered on its primary key, the name).
        with op.batch_alter_table(
            "index_projects", recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ):
            pass
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gaps", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "index_projects", recreate="always", table_kwargs={"sqlite_with_rowid": True}
        ):
            pass
    with op.batch_alter_table("index_events", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("detail")
    with op.batch_alter_table("feed_states", schema=None) as batch_op:
        batch_op.drop_column("gaps")
    op.drop_table("journal_state")
