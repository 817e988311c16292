"""The metadata database: one object that hands out read and write connections.

On SQLite every statement runs inline on the event loop over two synchronous
connections, one for reads and one for writes. An indexed lookup of a page in
SQLite's cache takes tens of microseconds, while the hand-off to aiosqlite's
thread and back costs more than a millisecond under load. Measured with wrk
and a 16-way push script on this project's benchmark machine: manifest GET by
tag went from 640 req/s through aiosqlite to 7,400 inline, and manifest PUT
from 150 req/s (see docs/performance.md for the figures now).

Inline code must never wait on a lock, or the whole loop waits. WAL mode lets
reads proceed while a write is open. Writers of this process queue on an
asyncio lock; a writer of another process (a second worker, the CLI) is met
with ``busy_timeout=0`` and retried after an asynchronous back-off, so the
loop keeps serving while it waits its turn.

On PostgreSQL, asyncpg is truly asynchronous and a pool serves both kinds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Dialect, Executable, ScalarResult, Select, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dockyard.errors import Unavailable

# WAL mode itself is set once, when migrations run (db/migrate.py).
_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=0",
)
# How long a writer waits for another process's write before giving up with 503.
WRITE_WAIT_SECONDS = 30.0


class Conn(Protocol):
    """What services use of a connection; every database below provides it."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]: ...

    async def column(self, statement: Select[Any], parameters: dict[str, Any]) -> list[Any]:
        """The first column of every row of a prebuilt statement, for long lists."""
        ...


class Database(Protocol):
    url: str

    def read(self) -> AbstractAsyncContextManager[Conn]:
        """``async with db.read() as conn``: a connection for reads."""

    def write(self) -> AbstractAsyncContextManager[Conn]:
        """``async with db.write() as conn``: a transaction that commits when the block ends
        without an error and rolls back otherwise."""

    async def dispose(self) -> None: ...


def open_database(
    url: str, *, pool_size: int = 20, max_overflow: int = 0, pool_timeout: float = 30.0
) -> Database:
    """The database at ``url``; the pool settings apply to server databases (PostgreSQL)."""
    if make_url(url).get_backend_name() == "sqlite":
        return SQLiteDatabase(url)
    return PooledDatabase(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
    )


class _InlineConnection:
    """A synchronous connection behind the async ``Conn`` interface."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._compiled: dict[Select[Any], tuple[str, tuple[str, ...]]] = {}

    @property
    def dialect(self) -> Dialect:
        return self.connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> Any:
        return self.connection.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return self.connection.scalar(statement, parameters)

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        return self.connection.scalars(statement, parameters)

    async def column(self, statement: Select[Any], parameters: dict[str, Any]) -> list[Any]:
        """Straight through sqlite3: for a list of 2,000 tags SQLAlchemy's row objects
        cost more than the query (1.3 ms against 0.55 ms, measured), and the
        statement is compiled once."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            sql = statement.compile(dialect=self.dialect)
            compiled = self._compiled[statement] = (str(sql), tuple(sql.positiontup or ()))
        sql_text, names = compiled
        driver = self.connection.connection.driver_connection
        assert driver is not None
        try:
            rows = driver.execute(sql_text, [parameters[name] for name in names]).fetchall()
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"the metadata database failed: {exc}") from exc
        return [row[0] for row in rows]


class SQLiteDatabase:
    def __init__(self, url: str) -> None:
        self.url = url
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self._engine = _sqlite_engine(sync_url.render_as_string(hide_password=False))
        self._reader: _InlineConnection | None = None
        self._writer: _InlineConnection | None = None
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self._reader is None:
            self._reader = _InlineConnection(self._engine.connect())
        yield self._reader

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        async with self._write_lock:
            if self._writer is None:
                self._writer = _InlineConnection(self._engine.connect())
            connection = self._writer.connection
            await _begin_immediate(connection)
            try:
                yield self._writer
                connection.commit()
            except BaseException:
                # Also after a failed COMMIT (a full disk): the connection must leave
                # the transaction, or every later write would fail to begin.
                connection.rollback()
                raise

    async def dispose(self) -> None:
        for inline in (self._reader, self._writer):
            if inline is not None:
                inline.connection.close()
        self._reader = self._writer = None
        self._engine.dispose()


async def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock without ever blocking the loop on it."""
    deadline = time.monotonic() + WRITE_WAIT_SECONDS
    pause = 0.0002
    driver = connection.connection.driver_connection
    if driver is not None and driver.in_transaction:
        connection.rollback()  # a transaction left open by a failure: start clean
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
                raise
            connection.rollback()
            if time.monotonic() > deadline:
                raise Unavailable("the metadata database stayed locked by another process") from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.002)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=2, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: reads see the newest committed state and hold
        # no snapshot between statements; writes say BEGIN IMMEDIATE themselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


class PooledDatabase:
    """A server database (PostgreSQL) through an async driver and a connection pool."""

    def __init__(
        self, url: str, *, pool_size: int = 20, max_overflow: int = 0, pool_timeout: float = 30.0
    ) -> None:
        self.url = url
        # Connections rest in autocommit, and reads run so: under READ COMMITTED a
        # transaction would give a read nothing (every statement takes a snapshot of
        # its own) and cost a BEGIN and a ROLLBACK round trip each, more than a manifest
        # GET's query.
        self._engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            isolation_level="AUTOCOMMIT",
        )
        self._writes = self._engine.execution_options(isolation_level="READ COMMITTED")
        pool = self._engine.sync_engine.pool
        event.listen(pool, "checkin", _returned)
        event.listen(pool, "checkout", _ping_if_idle)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        async with _checked_out(self._engine.connect()) as connection:
            yield _PooledConnection(connection)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        async with _checked_out(self._writes.connect()) as connection, connection.begin():
            yield _PooledConnection(connection)

    async def dispose(self) -> None:
        await self._engine.dispose()


# A pooled connection idle for longer than this is pinged before it is handed out, so
# that one a restart or a failover of PostgreSQL broke is replaced rather than failed.
# One busy more recently is not: under load that saves a round trip per request (a
# tenth of a manifest GET's time), and one that broke within the last second fails its
# request with 503 and has SQLAlchemy replace the whole pool.
PING_IDLE_SECONDS = 1.0


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get("returned")
    if returned is None or time.monotonic() - returned < PING_IDLE_SECONDS:
        return  # fresh from connect, or in use a moment ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool throws this connection away and checks out another (or a new one).
        raise DisconnectionError(f"a pooled connection was dropped: {exc}") from exc


@asynccontextmanager
async def _checked_out(connecting: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """A pooled connection; Unavailable (503) when none came free within the pool's
    timeout, since every one was busy the whole time."""
    try:
        connection = await connecting.start()
    except PoolTimeout as exc:
        raise Unavailable("every metadata database connection stayed busy") from exc
    try:
        yield connection
    finally:
        # Back to the pool even when the request is cancelled meanwhile.
        await asyncio.shield(connection.close())


class _PooledConnection:
    """An async driver's connection with the whole ``Conn`` interface."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @property
    def dialect(self) -> Dialect:
        return self.connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> Any:
        return await self.connection.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return await self.connection.scalar(statement, parameters)

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        return await self.connection.scalars(statement, parameters)

    async def column(self, statement: Select[Any], parameters: dict[str, Any]) -> list[Any]:
        """Straight through asyncpg: for a list of 2,000 tags SQLAlchemy's result rows
        took half of the server's time (py-spy, tags/list in bench/), and the statement
        is compiled once."""
        compiled = _COMPILED.get(statement)
        if compiled is None:
            sql = statement.compile(dialect=self.dialect)
            compiled = _COMPILED[statement] = (str(sql), tuple(sql.positiontup or ()))
        sql_text, names = compiled
        raw = await self.connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        try:
            rows = await driver.fetch(sql_text, *(parameters[name] for name in names))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise Unavailable(f"the metadata database failed: {exc}") from exc
        return [row[0] for row in rows]


# Statements that ``column`` compiled, as asyncpg runs them. Few: the callers build
# their statements once (db/statements.py).
_COMPILED: dict[Select[Any], tuple[str, tuple[str, ...]]] = {}
