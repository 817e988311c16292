"""Fixtures of the job queue's tests: each runs on SQLite and on PostgreSQL (the session's
cluster, ``postgres`` of tests/conftest.py).

``databases`` opens more Database objects on the same database, each with its own
connections, as separate processes or replicas would have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.db import Database, open_database
from dockyard.db.migrate import upgrade
from dockyard.jobs.handlers import Handlers
from dockyard.jobs.queue import JobInfo, JobQueue
from dockyard.jobs.schedules import ScheduleService
from dockyard.jobs.worker import Worker
from dockyard.registry import Registry
from dockyard.settings import JobSettings, Settings
from tests.conftest import BACKENDS, backend_settings
from tests.postgres import PostgresServer

# Small intervals, so that retries, heartbeats and leases play out in a fraction of a second.
FAST = JobSettings(
    workers=2,
    poll_seconds=0.02,
    heartbeat_seconds=0.05,
    lease_seconds=0.4,
    retry_base_seconds=0.02,
    retry_max_seconds=0.1,
    shutdown_grace_seconds=2.0,
)

Databases = Callable[[], Database]


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty metadata database."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        await server.empty()
        return server.url
    url = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[Databases]:
    """``databases()``: one more Database object on the database under test."""
    opened: list[Database] = []

    def make() -> Database:
        opened.append(open_database(database_url))
        return opened[-1]

    yield make
    for db in opened:
        await db.dispose()


@pytest.fixture
def db(databases: Databases) -> Database:
    return databases()


@pytest.fixture
def queue(db: Database) -> JobQueue:
    return JobQueue(db, FAST)


@pytest.fixture
def handlers() -> Handlers:
    """No kinds yet: each test registers what it runs."""
    return Handlers()


@pytest.fixture
def schedules(db: Database, handlers: Handlers) -> ScheduleService:
    return ScheduleService(db, handlers)


@pytest.fixture(params=BACKENDS)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The app's settings on each backend, with the short intervals above."""
    settings = await backend_settings(request, tmp_path, request.param)
    settings.jobs = FAST
    return settings


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Poll ``check`` until it holds, failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def working(
    queue: JobQueue, handlers: Handlers, settings: JobSettings = FAST, **options: Any
) -> AsyncIterator[Worker]:
    """A worker working until the block ends."""
    worker = Worker(queue, handlers, settings, **options)
    stopping = asyncio.Event()
    task = asyncio.create_task(worker.run(stopping))
    try:
        yield worker
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)


async def run_job(registry: Registry, kind: str, payload: dict[str, Any] | None = None) -> JobInfo:
    """Enqueue a job of ``kind``, work until it has finished; the job as it ended."""
    job_id = await registry.jobs.enqueue(kind, payload)

    async def done() -> bool:
        return (await registry.jobs.get(job_id)).status in ("succeeded", "failed")

    async with working(registry.jobs, registry.job_handlers, registry.settings.jobs):
        await eventually(done, what=f"the {kind} job finishing")
    return await registry.jobs.get(job_id)
