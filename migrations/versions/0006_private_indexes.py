"""private index catalogs: last good packages per source, source outages, finding risk

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
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
    op.create_table(
        "catalog_packages",
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("mirrored", sa.Text(), nullable=True),
        sa.Column("etag", sa.String(length=512), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "normalized_name"),
    )
    with op.batch_alter_table("catalog_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mirrored", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("down_alerted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digests", sa.JSON(), nullable=True))
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("risk_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("predates", sa.Boolean(), nullable=True))
    # Our own public projects, audited for strangers' roles on every catalog reload.
    with op.batch_alter_table("public_projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ours", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_column("digests")
    with op.batch_alter_table("public_projects", schema=None) as batch_op:
        batch_op.drop_column("ours")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("predates")
        batch_op.drop_column("risk_reason")
        batch_op.drop_column("risk")
    with op.batch_alter_table("catalog_state", schema=None) as batch_op:
        batch_op.drop_column("down_alerted_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("mirrored")
    op.drop_table("catalog_packages")
