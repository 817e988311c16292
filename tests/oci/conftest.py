"""Fixtures of the data-plane tests: each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The embedded default, then the same data plane with its metadata on PostgreSQL."""
    settings = Settings(data_dir=tmp_path / "data")
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        await postgres.empty()
        settings.database.url = postgres.url
    return settings


@pytest.fixture
def registry(registry_app: Starlette) -> Registry:
    """The services behind the app under test, for looking at what a request recorded."""
    services: Registry = registry_app.state.registry
    return services
