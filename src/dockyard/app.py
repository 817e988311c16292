"""Builds the ASGI app: the registry's services from the settings, and the faces on top."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount

from dockyard.oci.app import data_plane
from dockyard.registry import Registry
from dockyard.settings import Settings


def create_app(settings: Settings) -> Starlette:
    registry = Registry.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await registry.close()

    app = Starlette(routes=[Mount("/", app=data_plane(registry))], lifespan=lifespan)
    app.state.registry = registry
    return app


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings come from the environment."""
    return create_app(Settings())
