"""Schema upgrades with Alembic, driven from code (``dockyard migrate``, ``dockyard serve``)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Synchronous: call it outside an event loop."""
    _use_wal(url)
    command.upgrade(alembic_config(url), revision)


def _use_wal(url: str) -> None:
    """Put an SQLite database in WAL mode, which the file then keeps.

    Once, here, rather than on every connection: switching the mode needs a lock
    that another process's open write transaction holds, and connections opened
    meanwhile would fail.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(parsed.database, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
