"""Fixtures of the data-plane tests: each runs on the embedded default (SQLite and
files) and on the scale-out shape (PostgreSQL and an S3 object store)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from dockyard.registry import Registry


@pytest.fixture
def registry(registry_app: Starlette) -> Registry:
    """The services behind the app under test, for looking at what a request recorded."""
    services: Registry = registry_app.state.registry
    return services
