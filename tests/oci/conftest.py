"""Fixtures of the data-plane tests: each runs on the embedded default (SQLite and
files) and on the scale-out shape (PostgreSQL and an S3 object store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.postgres import PostgresServer
from tests.s3_server import S3Server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql+s3"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The embedded default, then the same data plane on PostgreSQL and S3."""
    settings = Settings(data_dir=tmp_path / "data")
    if request.param == "postgresql+s3":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        await postgres.empty()
        settings.database.url = postgres.url
        s3: S3Server = request.getfixturevalue("s3_server")
        settings.storage.driver = "s3"
        settings.storage.s3 = s3.settings()
    return settings


@pytest.fixture
def registry(registry_app: Starlette) -> Registry:
    """The services behind the app under test, for looking at what a request recorded."""
    services: Registry = registry_app.state.registry
    return services
