"""upload sessions: the write lease that keeps two replicas from writing one session

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("upload_sessions") as batch:
        batch.add_column(sa.Column("writer", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("lease_until", dockyard.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload_sessions") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("writer")
