"""robots and audit events: room for a robot's full name (prefix, project, name)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:00:00

A project robot's name is the prefix, the project's name (up to 255 characters), "+"
and its own name (up to 128): more than the 255 characters these columns held, which
PostgreSQL enforces (SQLite does not).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("robots") as batch:
        batch.alter_column("name", existing_type=sa.String(length=255), type_=sa.String(length=512))
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "operator", existing_type=sa.String(length=255), type_=sa.String(length=512)
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "operator", existing_type=sa.String(length=512), type_=sa.String(length=255)
        )
    with op.batch_alter_table("robots") as batch:
        batch.alter_column("name", existing_type=sa.String(length=512), type_=sa.String(length=255))
