"""Fixtures shared by every test: settings in a temporary data dir, the app, an HTTP client.

Each test that uses them runs twice: on SQLite and files, and on PostgreSQL and S3.

The app starts as a fresh install does: an ``admin`` account (password ADMIN_PASSWORD),
the public ``library`` project, plus the projects of TEST_PROJECTS for tests that push
elsewhere. ``client`` is logged in as the admin with Basic credentials; ``anonymous``
sends none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from dockyard.access import passwords
from dockyard.app import create_app
from dockyard.db.migrate import upgrade
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.postgres import PostgresServer
from tests.s3_server import S3Server
from tests.servers import ADMIN_PASSWORD

TEST_PROJECTS = (
    "a",
    "app",
    "b",
    "base",
    "c",
    "fuzz",
    "lib",
    "no",
    "other",
    "source",
    "target",
    "team",
    "zoo",
)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> None:
    """Argon2 with the smallest cost in the test process: every test creates an admin,
    and the default cost (tens of milliseconds a hash) would add a minute to the suite.
    Servers started as processes keep the real cost."""
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


BACKENDS = ["sqlite", "postgresql+s3"]


async def backend_settings(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, *, own_database: bool = False
) -> Settings:
    """Settings of a fresh registry on ``backend``: the embedded default (SQLite and files)
    or the scale-out shape (PostgreSQL and an S3 bucket, each test a clean database and
    a bucket of its own).

    The clean database is the cluster's migrated one, emptied; ``own_database`` gives a
    new, unmigrated one instead, for a registry that outlives one test (a module's)."""
    settings = Settings(data_dir=tmp_path / "data")
    if backend == "postgresql+s3":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        if own_database:
            settings.database.url = await postgres.new_database(f"db_{uuid.uuid4().hex[:12]}")
        else:
            await postgres.empty()
            settings.database.url = postgres.url
        s3: S3Server = request.getfixturevalue("s3_server")
        settings.storage.driver = "s3"
        settings.storage.s3 = s3.settings()
    return settings


def backend_env(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    """The DOCKYARD_* variables that put a server process on ``backend`` (for PostgreSQL
    and S3: a database and a bucket of its own)."""
    if backend == "sqlite":
        return {}
    postgres: PostgresServer = request.getfixturevalue("postgres")
    s3: S3Server = request.getfixturevalue("s3_server")
    url = asyncio.run(postgres.new_database(f"server_{uuid.uuid4().hex[:12]}"))
    return {"DOCKYARD_DATABASE__URL": url, **S3Server.environment(s3.settings())}


@pytest.fixture(params=BACKENDS)
def server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a test's server processes, on each backend."""
    return backend_env(request, request.param)


@pytest.fixture(params=BACKENDS)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every test that builds a registry runs on both backends."""
    return await backend_settings(request, tmp_path, request.param)


async def install(registry: Registry) -> None:
    """What a fresh install plus an operator's first steps leave: admin, projects."""
    await registry.users.ensure_admin(ADMIN_PASSWORD)
    admin = await registry.users.get("admin")
    for name in TEST_PROJECTS:
        await registry.projects.create(name, public=False, owner_id=admin.id)


@pytest.fixture
async def registry_app(settings: Settings) -> AsyncIterator[object]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    await install(registry)
    yield app
    await registry.close()


@pytest.fixture
def registry(registry_app: object) -> Registry:
    """The services of the app under test."""
    services: Registry = registry_app.state.registry  # type: ignore[attr-defined]
    return services


@pytest.fixture
async def client(registry_app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process (no sockets), as the admin."""
    transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry.test", auth=("admin", ADMIN_PASSWORD)
    ) as c:
        yield c


@pytest.fixture
async def developer(registry_app: object, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in as ``dev`` (password ``Member-Secret-1``), a user who is
    not a system admin and is in no project."""
    await registry.users.create("dev", "Member-Secret-1")
    transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry.test", auth=("dev", "Member-Secret-1")
    ) as c:
        yield c


@pytest.fixture
async def anonymous(registry_app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without credentials."""
    transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        yield c


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster for the whole run, started by the tests."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-speaking server for the whole run; tests take buckets of their own."""
    server = S3Server().start()
    yield server
    server.stop()
