"""The SQLite database: transactions, recovery from a broken one, and waiting without blocking."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dockyard.db import open_database
from dockyard.db.engine import SQLiteDatabase
from dockyard.db.migrate import upgrade
from dockyard.projects.models import Project


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteDatabase]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    await asyncio.to_thread(upgrade, url)
    database = open_database(url)
    assert isinstance(database, SQLiteDatabase)
    yield database
    await database.dispose()


async def _projects(db: SQLiteDatabase) -> list[str]:
    async with db.read() as conn:
        query = select(Project.name).where(Project.name != "library").order_by(Project.name)
        return list((await conn.scalars(query)).all())


def test_migrations_put_sqlite_in_wal_mode(tmp_path: Path) -> None:
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'meta.db'}")
    connection = sqlite3.connect(tmp_path / "fresh" / "meta.db")
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


async def test_a_failed_block_leaves_nothing(db: SQLiteDatabase) -> None:
    async with db.write() as conn:
        await conn.execute(Project.__table__.insert(), {"name": "kept"})

    async def give_up() -> None:
        async with db.write() as conn:
            await conn.execute(Project.__table__.insert(), {"name": "dropped"})
            raise RuntimeError("the service gave up")

    with pytest.raises(RuntimeError):
        await give_up()
    assert await _projects(db) == ["kept"]


async def test_a_transaction_left_open_does_not_block_later_writes(db: SQLiteDatabase) -> None:
    async with db.write() as conn:
        await conn.execute(Project.__table__.insert(), {"name": "first"})
    # As if a COMMIT had failed half-way and left the connection inside a transaction.
    assert db._writer is not None
    db._writer.connection.exec_driver_sql("BEGIN")
    async with db.write() as conn:
        await conn.execute(Project.__table__.insert(), {"name": "second"})
    assert await _projects(db) == ["first", "second"]


async def test_waiting_for_another_process_never_blocks_the_loop(
    db: SQLiteDatabase, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute(Project.__table__.insert(), {"name": "after"})

    writer = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):
        await asyncio.sleep(0.005)
        ticks += 1
    # The loop kept running other work while the writer waited its turn ...
    assert ticks == 20
    assert not writer.done()
    # ... and reads went on too, under WAL.
    assert await _projects(db) == []
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writer, timeout=5)
    assert await _projects(db) == ["after"]
