"""quotas: an artifact limit per project, and each project's usage, computed from scratch

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("count_limit", sa.BigInteger(), nullable=False, server_default="-1")
        )
    op.create_table(
        "project_usage",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("storage_used", sa.BigInteger(), nullable=False),
        sa.Column("artifact_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "project_blobs",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "digest"),
    )
    op.execute(
        "INSERT INTO project_blobs (project_id, digest, size) "
        "SELECT DISTINCT r.project_id, rb.digest, b.size FROM repository_blobs rb "
        "JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest "
        "WHERE NOT b.deleting"
    )
    op.execute(
        "INSERT INTO project_usage (project_id, storage_used, artifact_count) "
        "SELECT p.id, "
        "COALESCE((SELECT SUM(pb.size) FROM project_blobs pb WHERE pb.project_id = p.id), 0), "
        "(SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id "
        "WHERE r.project_id = p.id) FROM projects p"
    )


def downgrade() -> None:
    op.drop_table("project_blobs")
    op.drop_table("project_usage")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("count_limit")
