"""The PostgreSQL database: reads outside a transaction, writes in one, and a pool that
answers 503 rather than wait forever or open a connection per request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import bindparam, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError

from dockyard.db import open_database
from dockyard.db.engine import PING_IDLE_SECONDS, Conn, PooledDatabase
from dockyard.db.migrate import upgrade
from dockyard.errors import Unavailable
from dockyard.projects.models import Project
from tests.postgres import PostgresServer

Opener = Callable[..., PooledDatabase]


@pytest.fixture
async def opened(postgres: PostgresServer) -> AsyncIterator[Opener]:
    """``opened(**pool)``: the database on a migrated database of the test's own."""
    url = await postgres.new_database(f"pool_{uuid.uuid4().hex[:12]}")
    await asyncio.to_thread(upgrade, url)
    databases: list[PooledDatabase] = []

    def make(**pool: object) -> PooledDatabase:
        database = open_database(url, **pool)  # type: ignore[arg-type]
        assert isinstance(database, PooledDatabase)
        databases.append(database)
        return database

    yield make
    for database in databases:
        await database.dispose()


async def _backend_pids(db: PooledDatabase) -> set[int]:
    async with db.read() as conn:
        return set(
            (
                await conn.scalars(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                )
            ).all()
        )


async def test_a_busy_pool_is_503_after_its_timeout_not_a_hang(opened: Opener) -> None:
    db = opened(pool_size=1, pool_timeout=0.2)
    async with db.read():
        with pytest.raises(Unavailable):
            async with db.read():
                pass
        with pytest.raises(Unavailable):
            async with db.write():
                pass
    # Handed back: the next request gets it.
    async with db.read() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_steady_concurrency_reuses_the_pooled_connections(opened: Opener) -> None:
    db = opened(pool_size=2)

    async def request() -> None:
        async with db.read() as conn:
            await conn.scalar(text("SELECT pg_sleep(0.005)"))

    await asyncio.gather(*(request() for _ in range(40)))
    first = await _backend_pids(db)
    await asyncio.gather(*(request() for _ in range(40)))
    # No overflow connection opened and closed per request: the same two backends.
    assert await _backend_pids(db) == first
    assert len(first) <= 2


async def test_reads_hold_no_transaction_and_writes_commit_or_roll_back(opened: Opener) -> None:
    db = opened()
    began = text("SELECT transaction_timestamp()")

    async def starts(conn: Conn) -> tuple[object, object]:
        first = await conn.scalar(began)
        await asyncio.sleep(0.01)
        return first, await conn.scalar(began)

    async with db.read() as conn:
        first, second = await starts(conn)
        assert first != second  # no BEGIN: each statement is a transaction of its own
    async with db.write() as conn:
        first, second = await starts(conn)
        assert first == second

    async with db.write() as conn:
        await conn.execute(Project.__table__.insert(), {"name": "kept"})

    async def give_up() -> None:
        async with db.write() as conn:
            await conn.execute(Project.__table__.insert(), {"name": "dropped"})
            raise RuntimeError("the service gave up")

    with pytest.raises(RuntimeError):
        await give_up()
    async with db.read() as conn:
        names = set((await conn.scalars(select(Project.name))).all())
    assert "kept" in names
    assert "dropped" not in names


async def _hold(db: PooledDatabase, count: int) -> None:
    """``count`` reads at once, so that the pool hands out ``count`` connections."""

    async def one() -> None:
        async with db.read() as conn:
            await conn.scalar(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(one() for _ in range(count)))


async def _drop_backends(opened: Opener, pids: set[int]) -> None:
    """What a restart or a failover of PostgreSQL does to the connections of a pool."""
    async with opened(pool_size=1).read() as other:
        for pid in pids:
            await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_connections_dropped_while_idle_are_replaced_not_failed(opened: Opener) -> None:
    db = opened(pool_size=3)
    await _hold(db, 3)
    pooled = await _backend_pids(db)
    await _drop_backends(opened, pooled)
    await asyncio.sleep(PING_IDLE_SECONDS + 0.1)  # a restart takes longer than this
    await _hold(db, 3)
    async with db.write() as conn:
        await conn.execute(Project.__table__.insert(), {"name": "after"})
    assert not (await _backend_pids(db)) & pooled


async def test_a_connection_dropped_right_after_use_fails_one_request_then_the_pool_heals(
    opened: Opener,
) -> None:
    # Not pinged (it was busy a moment ago): its request fails, with an error that the
    # API answers 503; SQLAlchemy then replaces every connection of the pool.
    db = opened(pool_size=3)
    await _hold(db, 3)
    await _drop_backends(opened, await _backend_pids(db))
    with pytest.raises(DBAPIError):
        async with db.read() as conn:
            await conn.scalar(text("SELECT 1"))
    await _hold(db, 3)


async def test_a_column_read_goes_through_asyncpg_and_its_failures_are_503(
    opened: Opener,
) -> None:
    db = opened()
    async with db.write() as conn:
        for name in ("b", "a", "c"):
            await conn.execute(Project.__table__.insert(), {"name": name})
    query = (
        select(Project.name)
        .where(Project.name != bindparam("skip"))
        .order_by(Project.name)
        .limit(bindparam("limit"))
    )
    async with db.read() as conn:
        assert await conn.column(query, {"skip": "library", "limit": 2}) == ["a", "b"]
        assert await conn.column(query, {"skip": "a", "limit": 10}) == ["b", "c", "library"]
        with pytest.raises(Unavailable):
            await conn.column(select(literal_column("name")).select_from(table("missing")), {})
