"""immutable tag rules: per project, the tags that cannot be moved or deleted

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "immutable_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("repository_pattern", sa.String(length=255), nullable=False),
        sa.Column("repository_decoration", sa.String(length=16), nullable=False),
        sa.Column("tag_pattern", sa.String(length=255), nullable=False),
        sa.Column("tag_decoration", sa.String(length=16), nullable=False),
        sa.Column("created_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_immutable_rules_project_id", "immutable_rules", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_immutable_rules_project_id", table_name="immutable_rules")
    op.drop_table("immutable_rules")
