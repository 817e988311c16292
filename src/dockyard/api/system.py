"""/systeminfo and /health: what this registry is, and whether its parts answer."""

from __future__ import annotations

from importlib.metadata import version
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from dockyard.api.deps import Services

router = APIRouter(tags=["system"])


class GeneralInfo(BaseModel):
    dockyard_version: str
    auth_mode: str
    registry_url: str
    project_creation_restriction: str
    self_registration: bool
    read_only: bool


class ComponentHealth(BaseModel):
    name: str
    status: Literal["healthy", "unhealthy"]
    error: str = ""


class OverallHealth(BaseModel):
    status: Literal["healthy", "unhealthy"]
    components: list[ComponentHealth]


@router.get("/systeminfo", response_model=GeneralInfo, summary="General information")
async def system_info(request: Request, registry: Services) -> GeneralInfo:
    auth = registry.settings.auth
    url = auth.base_url(request.url.scheme, request.url.netloc)
    return GeneralInfo(
        dockyard_version=version("dockyard"),
        auth_mode={"db": "db_auth", "ldap": "ldap_auth", "oidc": "oidc_auth"}[auth.mode],
        registry_url=url.split("://", 1)[-1],
        project_creation_restriction="adminonly"
        if auth.project_creation == "admin"
        else "everyone",
        self_registration=False,
        read_only=False,
    )


@router.get(
    "/health",
    response_model=OverallHealth,
    responses={503: {"model": OverallHealth}},
    summary="Health of the database and the blob store",
)
async def health(registry: Services, response: Response) -> OverallHealth:
    components = []
    try:
        async with registry.db.read() as conn:
            await conn.execute(text("SELECT 1"))
        components.append(ComponentHealth(name="database", status="healthy"))
    except Exception as exc:
        components.append(ComponentHealth(name="database", status="unhealthy", error=str(exc)))
    try:
        await registry.store.check()
        components.append(ComponentHealth(name="storage", status="healthy"))
    except Exception as exc:
        components.append(ComponentHealth(name="storage", status="unhealthy", error=str(exc)))
    healthy = all(c.status == "healthy" for c in components)
    if not healthy:
        response.status_code = 503
    return OverallHealth(status="healthy" if healthy else "unhealthy", components=components)
