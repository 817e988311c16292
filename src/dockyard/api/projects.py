"""/projects: create, list, read, update and delete projects; metadata; summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.api.bodies import MAX_ID, MAX_INT, Body
from dockyard.api.deps import Acting, Caller, Services, require_login
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.quotas import Quota, quota_resp
from dockyard.errors import Denied, NotFound
from dockyard.projects.projects import ProjectInfo, Visibility
from dockyard.registry import Registry

router = APIRouter(prefix="/projects", tags=["project"])

PROJECT_NAME = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"

ProjectRef = Annotated[str, "a project's name, or its id"]


class Project(BaseModel):
    project_id: int
    name: str
    public: bool
    owner_id: int | None
    repo_count: int
    metadata: dict[str, str]
    storage_limit: int
    creation_time: datetime
    update_time: datetime


Flag = Literal["true", "false"]


class ProjectMetadata(Body):
    """Harbor's project metadata: strings "true"/"false", and a severity."""

    model_config = ConfigDict(strict=True, extra="forbid")

    public: Flag | None = None
    auto_scan: Flag | None = None
    auto_sbom_generation: Flag | None = None
    severity: Literal["none", "low", "medium", "high", "critical"] | None = None
    prevent_vul: Flag | None = None
    enable_content_trust: Flag | None = None
    enable_content_trust_cosign: Flag | None = None
    reuse_sys_cve_allowlist: Flag | None = None

    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ProjectReq(Body):
    project_name: str = Field(pattern=PROJECT_NAME, max_length=255)
    public: bool | None = None
    metadata: ProjectMetadata | None = None
    storage_limit: int = Field(default=-1, ge=-1, le=MAX_INT)


class ProjectUpdate(Body):
    public: bool | None = None
    metadata: ProjectMetadata | None = None
    storage_limit: int | None = Field(default=None, ge=-1, le=MAX_INT)


class ProjectSummary(BaseModel):
    repo_count: int
    project_admin_count: int
    maintainer_count: int
    developer_count: int
    guest_count: int
    limited_guest_count: int
    storage_limit: int
    quota: Quota = Field(description="the project's limits and exact usage")


def project_resp(project: ProjectInfo) -> Project:
    return Project(
        project_id=project.id,
        name=project.name,
        public=project.public,
        owner_id=project.owner_id,
        repo_count=project.repository_count,
        metadata=project.metadata,
        storage_limit=project.storage_limit,
        creation_time=project.created_at,
        update_time=project.updated_at,
    )


def reference(name_or_id: str, is_name: str | None) -> str | int:
    """Harbor's rule: digits are an id unless ``X-Is-Resource-Name: true`` says otherwise."""
    # isascii: str.isdigit() is true of "¹" too, which int() refuses.
    if name_or_id.isascii() and name_or_id.isdigit() and (is_name or "").lower() != "true":
        number = int(name_or_id)
        # Beyond any row id: no such project, looked up as a name that cannot exist.
        return number if number <= MAX_ID else name_or_id
    return name_or_id


IsName = Annotated[str | None, Header(alias="X-Is-Resource-Name", max_length=8)]


async def authorized(
    registry: Registry, caller: Principal, name_or_id: str | int, action: Action
) -> ProjectInfo:
    """The project, if the caller may do ``action`` there. A project the caller may not
    even read is reported as not found, so that names of private projects do not leak."""
    try:
        project = await registry.projects.get(name_or_id)
    except NotFound:
        raise NotFound(f"project {name_or_id!r} not found") from None
    access = await registry.access.project_access(caller, project.name)
    if action not in access.actions:
        # Nobody is asked to log in first, also where a public project lets them read.
        require_login(caller)
        if Action.PROJECT_READ not in access.actions:
            raise NotFound(f"project {name_or_id!r} not found")
        raise Denied(f"{caller.name!r} may not {action.value.replace(':', ' ')} here")
    return project


def visibility(caller: Principal) -> Visibility:
    if caller.kind == "user":
        return Visibility(caller.admin, caller.id, caller.group_ids)
    if caller.kind == "robot":
        # Robots see public projects and those they hold permissions on (checked per project).
        return Visibility(False, None, (), ())
    return Visibility(False)


@router.get("", response_model=list[Project], summary="Projects the caller may see")
async def list_projects(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    name: Annotated[str | None, Query(max_length=255)] = None,
    public: bool | None = None,
) -> list[Project]:
    projects, total = await registry.projects.search(
        visibility(caller), name=name, public=public, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [project_resp(p) for p in projects]


@router.head("", response_class=Response, summary="Whether a project name is taken")
async def project_exists(
    registry: Services,
    caller: Caller,
    project_name: Annotated[str, Query(min_length=1, max_length=255)],
) -> Response:
    require_login(caller)
    await registry.projects.get(project_name)
    return Response(status_code=200)


@router.post("", status_code=201, response_class=Response, summary="Create a project")
async def create_project(
    body: ProjectReq, registry: Services, caller: Caller, actor: Acting
) -> Response:
    require_login(caller)
    if caller.kind != "user":
        raise Denied("only users create projects")
    if registry.settings.auth.project_creation == "admin" and not caller.admin:
        raise Denied("only system admins create projects here")
    metadata = body.metadata.values() if body.metadata else {}
    public = body.public if body.public is not None else metadata.get("public") == "true"
    project = await registry.projects.create(
        body.project_name,
        public=public,
        owner_id=caller.id,
        metadata=metadata,
        storage_limit=body.storage_limit,
        actor=actor,
    )
    return Response(status_code=201, headers={"Location": f"/api/v2.0/projects/{project.id}"})


@router.get("/{project_name_or_id}", response_model=Project, summary="One project")
async def get_project(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> Project:
    ref = reference(project_name_or_id, is_name)
    return project_resp(await authorized(registry, caller, ref, Action.PROJECT_READ))


@router.put("/{project_name_or_id}", response_class=Response, summary="Update a project")
async def update_project(
    project_name_or_id: str,
    body: ProjectUpdate,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.PROJECT_UPDATE)
    if body.storage_limit is not None and not caller.admin:
        raise Denied("only system admins set quotas")
    await registry.projects.update(
        project.id,
        public=body.public,
        metadata=body.metadata.values() if body.metadata else None,
        storage_limit=body.storage_limit,
        actor=actor,
    )
    return Response(status_code=200)


@router.delete("/{project_name_or_id}", response_class=Response, summary="Delete an empty project")
async def delete_project(
    project_name_or_id: str,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.PROJECT_DELETE)
    await registry.projects.delete(project.id, actor)
    return Response(status_code=200)


@router.get(
    "/{project_name_or_id}/summary", response_model=ProjectSummary, summary="Counts of a project"
)
async def project_summary(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> ProjectSummary:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.PROJECT_READ)
    counts = {role: 0 for role in range(1, 6)}
    for member in await registry.members.list(project.id):
        counts[member.role] += 1
    return ProjectSummary(
        repo_count=project.repository_count,
        project_admin_count=counts[1],
        developer_count=counts[2],
        guest_count=counts[3],
        maintainer_count=counts[4],
        limited_guest_count=counts[5],
        storage_limit=project.storage_limit,
        quota=quota_resp(await registry.quotas.get(project.id)),
    )


@router.get(
    "/{project_name_or_id}/metadatas",
    response_model=dict[str, str],
    summary="A project's metadata",
)
async def get_metadata(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> dict[str, str]:
    ref = reference(project_name_or_id, is_name)
    return (await authorized(registry, caller, ref, Action.PROJECT_READ)).metadata


@router.put(
    "/{project_name_or_id}/metadatas",
    response_model=dict[str, str],
    summary="Set metadata of a project",
)
async def set_metadata(
    project_name_or_id: str,
    body: ProjectMetadata,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> dict[str, str]:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.PROJECT_UPDATE)
    return (
        await registry.projects.update(project.id, metadata=body.values(), actor=actor)
    ).metadata
