"""Metadata: SQLAlchemy models, the engine, and Alembic migrations."""

from dockyard.db.base import Base
from dockyard.db.engine import Database

__all__ = ["Base", "Database"]
