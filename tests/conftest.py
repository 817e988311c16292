"""Fixtures shared by every test: settings in a temporary data dir, the app, an HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dockyard.app import create_app
from dockyard.db.migrate import upgrade
from dockyard.registry import Registry
from dockyard.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def registry_app(settings: Settings) -> AsyncIterator[object]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    yield app
    registry: Registry = app.state.registry
    await registry.close()


@pytest.fixture
async def client(registry_app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process (no sockets)."""
    transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        yield c
