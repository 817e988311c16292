"""One JSON error shape for the API: ``{"errors": [{"code", "message"}]}``, as Harbor's."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from dockyard.errors import DockyardError, Unauthorized

log = logging.getLogger(__name__)

# The codes of the domain's errors that the API reports under their HTTP meaning.
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    503: "UNAVAILABLE",
}


class Error(BaseModel):
    code: str
    message: str


class Errors(BaseModel):
    errors: list[Error]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"code": _CODES.get(status, "ERROR"), "message": message}]}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    headers = (
        {"WWW-Authenticate": 'Basic realm="dockyard"'} if isinstance(exc, Unauthorized) else None
    )
    if exc.status in (429, 503):
        headers = {"Retry-After": "1"}
    return error_response(exc.status, exc.message, headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(
            f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "")
        )
    return error_response(400, "; ".join(problems) or "invalid request")


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route that matched the path only;
        # the path's other routes (GET and POST /users are two) are allowed too.
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
    return error_response(exc.status_code, str(exc.detail), headers)


def _allowed_methods(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match != Match.NONE:
                methods |= route.methods
    return methods


async def on_database_error(request: Request, exc: Exception) -> Response:
    log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "the metadata database is unavailable", {"Retry-After": "1"})


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, inside the routers that FastAPI wraps included ones in."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _leaf_routes(included.routes)
        else:
            yield route


EXCEPTION_HANDLERS = {
    DockyardError: on_domain_error,
    RequestValidationError: on_validation_error,
    HTTPException: on_http_error,
    DBAPIError: on_database_error,
}
