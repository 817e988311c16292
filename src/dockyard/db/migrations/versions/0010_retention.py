"""tag retention: a policy per project, and what each run did with each artifact

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("created_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_table(
        "retention_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_outcomes_job_id", "retention_outcomes", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_retention_outcomes_job_id", table_name="retention_outcomes")
    op.drop_table("retention_outcomes")
    op.drop_table("retention_policies")
