"""The /api/v2.0 app: FastAPI routers over the registry's services, with OpenAPI and docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dockyard.api import (
    artifacts,
    auditlogs,
    gc,
    immutability,
    jobs,
    labels,
    members,
    projects,
    quotas,
    repositories,
    retention,
    robots,
    scanners,
    scans,
    schedules,
    system,
    users,
)
from dockyard.api.errors import EXCEPTION_HANDLERS, Errors
from dockyard.registry import Registry

PREFIX = "/api/v2.0"
_ERROR_STATUSES = {
    "400": "Bad request: the parameters or body break a rule",
    "401": "No credentials, or wrong ones",
    "403": "The caller may not do this",
    "404": "No such resource",
    "409": "The resource exists, or is in a state that forbids this",
    "503": "A dependency (database, directory) is unavailable; retry",
}


def create_api(registry: Registry) -> FastAPI:
    api = FastAPI(
        title="dockyard API",
        version="2.0",
        description="Manage projects, members, robots, users, repositories, artifacts, "
        "labels, background jobs and their schedules, scanners and scans. "
        "Authenticate with Basic credentials (users, robots, OIDC CLI secrets) or the "
        "console's session cookie.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
    api.state.registry = registry
    for module in (
        system,
        users,
        projects,
        members,
        robots,
        auditlogs,
        repositories,
        artifacts,
        labels,
        immutability,
        jobs,
        schedules,
        gc,
        quotas,
        retention,
        scanners,
        scans,
    ):
        api.include_router(module.router)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the error answers this API really gives: 400 (never 422)
    and the one error shape on every operation."""
    if api.openapi_schema:
        return api.openapi_schema
    schema = get_openapi(
        title=api.title,
        version=api.version,
        description=api.description,
        routes=api.routes,
        servers=[{"url": PREFIX}],
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Errors"] = Errors.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["Errors"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
    schema.setdefault("components", {})["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic"}
    }
    schema["security"] = [{"basic": []}, {}]
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in _ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, **error})
    api.openapi_schema = schema
    return schema
