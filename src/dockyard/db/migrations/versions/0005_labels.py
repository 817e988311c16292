"""labels: global and project labels, and the artifacts they are attached to

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_index("ix_labels_project_id", "labels", ["project_id"])
    op.create_index(
        "uq_labels_global_name",
        "labels",
        ["name"],
        unique=True,
        sqlite_where=sa.text("project_id IS NULL"),
        postgresql_where=sa.text("project_id IS NULL"),
    )
    op.create_table(
        "artifact_labels",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("created_at", dockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["label_id"], ["labels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["manifest_id"], ["manifests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("manifest_id", "label_id"),
    )
    op.create_index("ix_artifact_labels_label_id", "artifact_labels", ["label_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_labels_label_id", table_name="artifact_labels")
    op.drop_table("artifact_labels")
    op.drop_index("uq_labels_global_name", table_name="labels")
    op.drop_index("ix_labels_project_id", table_name="labels")
    op.drop_table("labels")
