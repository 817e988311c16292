"""Metadata: SQLAlchemy models, the engine, and Alembic migrations."""

from dockyard.db.base import Base
from dockyard.db.engine import Conn, Database, open_database

__all__ = ["Base", "Conn", "Database", "open_database"]
