"""blob collection: when a blob was last used, and the mark of one being collected

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("used_at", dockyard.db.base.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("deleting", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE blobs SET used_at = created_at")
    with op.batch_alter_table("blobs") as batch:
        batch.alter_column("used_at", existing_type=dockyard.db.base.UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("deleting")
        batch.drop_column("used_at")
