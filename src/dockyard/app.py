"""Builds the ASGI app: the registry's services from the settings, and the faces on top."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from dockyard.api.app import PREFIX, create_api
from dockyard.oci import app as oci
from dockyard.oci.responses import APIVersionHeader
from dockyard.registry import Registry
from dockyard.settings import Settings
from dockyard.token import app as token
from dockyard.ui import login


def create_app(settings: Settings) -> Starlette:
    registry = Registry.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Background jobs run in every serving process unless left to `dockyard worker`.
        jobs = registry.job_runner() if settings.jobs.run_in_serve else None
        if jobs is not None:
            await jobs.start()
        pulls = asyncio.create_task(registry.pulls.run())
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            pulls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pulls
            await registry.close()

    app = Starlette(
        routes=[
            *oci.routes(registry),
            *token.routes(registry),
            *login.routes(registry),
            Mount(PREFIX, app=create_api(registry)),
        ],
        exception_handlers=oci.EXCEPTION_HANDLERS,
        middleware=[Middleware(APIVersionHeader)],
        lifespan=lifespan,
    )
    app.state.registry = registry
    return app


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings come from the environment."""
    return create_app(Settings())
