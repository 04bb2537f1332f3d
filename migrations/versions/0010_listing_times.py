"""listing times indexed: the check API follows what the stored listing gained and lost

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_index_projects_first_seen_at", "index_projects", ["first_seen_at"])
    op.create_index("ix_index_projects_removed_at", "index_projects", ["removed_at"])
    op.create_index("ix_public_projects_first_seen_at", "public_projects", ["first_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_public_projects_first_seen_at", table_name="public_projects")
    op.drop_index("ix_index_projects_removed_at", table_name="index_projects")
    op.drop_index("ix_index_projects_first_seen_at", table_name="index_projects")
