"""OCI error bodies and the headers every data-plane response carries."""

from __future__ import annotations

import logging

import orjson
from sqlalchemy.exc import DBAPIError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.errors import (
    Denied,
    DockyardError,
    RangeInvalid,
    RangeNotSatisfiable,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)
API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


def error_response(
    code: str,
    message: str,
    status: int,
    detail: object = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = orjson.dumps({"errors": [{"code": code, "message": message, "detail": detail}]})
    return Response(body, status, headers=headers, media_type="application/json")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    headers: dict[str, str] = {}
    if isinstance(exc, RangeInvalid):
        headers["Range"] = f"0-{max(exc.offset - 1, 0)}"
        headers["Location"] = request.url.path
    elif isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    elif isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = challenge(request, exc.scope)
    elif isinstance(exc, Denied) and exc.scope:
        headers["WWW-Authenticate"] = challenge(request, exc.scope) + ',error="insufficient_scope"'
    elif exc.status in (429, 503):
        headers["Retry-After"] = "1"
    return error_response(exc.code, exc.message, exc.status, exc.detail, headers)


def challenge(request: Request, scope: str | None) -> str:
    """The ``WWW-Authenticate`` value that sends a client to the token endpoint."""
    auth = request.app.state.registry.settings.auth
    base = auth.base_url(request.url.scheme, request.url.netloc)
    value = f'Bearer realm="{base}/service/token",service="{auth.service}"'
    if scope:
        value += f',scope="{scope}"'
    return value


async def on_database_error(request: Request, exc: Exception) -> Response:
    log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
    return await on_domain_error(request, Unavailable("the metadata database is unavailable"))


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    # Nobody is listening any more; the upload was already rolled back.
    return Response(status_code=400)


async def on_http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    headers = getattr(exc, "headers", None)
    if status == 405:
        return error_response(
            "UNSUPPORTED", "method not allowed for this endpoint", 405, headers=headers
        )
    return error_response(
        "UNSUPPORTED", "no such endpoint in the registry API", status, headers=headers
    )


EXCEPTION_HANDLERS = {
    DockyardError: on_domain_error,
    DBAPIError: on_database_error,
    ClientDisconnect: on_client_disconnect,
}


class APIVersionHeader:
    """Adds ``Docker-Distribution-API-Version`` to every response of the data plane."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), API_VERSION]
            await send(message)

        await self.app(scope, receive, send_with_header)
