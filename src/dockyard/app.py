"""Builds the ASGI app: the registry's services from the settings, and the faces on top."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.api.app import PREFIX, create_api
from dockyard.api.errors import error_response as api_error
from dockyard.oci import app as oci
from dockyard.oci.responses import APIVersionHeader
from dockyard.oci.responses import error_response as oci_error
from dockyard.registry import Registry
from dockyard.settings import Settings
from dockyard.token import app as token
from dockyard.ui import login


def create_app(settings: Settings) -> Starlette:
    return app_of(Registry.build(settings))


def app_of(registry: Registry) -> Starlette:
    """The app over ``registry``'s services. Processes that serve no HTTP (the worker,
    the CLI) build it too: the built-in scanner pulls images through it."""
    settings = registry.settings

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
        middleware=[Middleware(APIVersionHeader), Middleware(RefuseNul)],
        lifespan=lifespan,
    )
    app.state.registry = registry
    # The built-in scanner pulls images through this same app, as an outside one would.
    registry.loopback.app = app
    return app


class RefuseNul:
    """400 for a NUL character in a request's path or query, on every face: no name,
    reference or parameter holds one, and PostgreSQL cannot even compare text with one
    (it was a 503 there). Request bodies of the API: api/bodies.py."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            message = "NUL characters are not allowed in paths or parameters"
            if scope["path"].startswith(PREFIX + "/"):
                response = api_error(400, message)
            else:
                response = oci_error("UNSUPPORTED", message, 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings come from the environment."""
    return create_app(Settings())
