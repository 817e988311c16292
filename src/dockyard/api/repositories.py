"""/projects/{project}/repositories and /repositories: list, read and delete repositories.

As on Harbor, ``repository_name`` is the path inside the project ("app" for
"library/app"); a name with slashes comes URL-encoded twice ("team%252Fapp").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.api.deps import Acting, Caller, Services
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import authorized, visibility
from dockyard.artifacts.catalog import RepositoryInfo
from dockyard.projects.names import COMPONENT_PATTERN, validate_name
from dockyard.registry import Registry

router = APIRouter(tags=["repository"])

ProjectName = Annotated[str, Path(min_length=1, max_length=255, description="The project's name.")]
RepositoryName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=1024,
        # As Starlette hands it over: decoded once, the slashes still encoded.
        pattern=rf"^{COMPONENT_PATTERN}(?:%2[Ff]{COMPONENT_PATTERN})*$",
        description="The repository's path inside the project; slashes URL-encoded twice "
        "(team%252Fapp for project/team/app).",
    ),
]
NameFilter = Annotated[
    str | None, Query(max_length=255, description="Only repositories whose name contains this.")
]


class Repository(BaseModel):
    id: int
    project_id: int
    name: str
    artifact_count: int
    creation_time: datetime
    update_time: datetime


def repository_resp(repository: RepositoryInfo) -> Repository:
    return Repository(
        id=repository.id,
        project_id=repository.project_id,
        name=repository.name,
        artifact_count=repository.artifact_count,
        creation_time=repository.created_at,
        update_time=repository.updated_at,
    )


async def full_name(
    registry: Registry,
    caller: Principal,
    project_name: str,
    repository_name: str,
    action: Action,
) -> str:
    """The repository's full name, if the caller may do ``action`` in its project."""
    project = await authorized(registry, caller, project_name, action)
    # Starlette decoded the path once; Harbor's clients encode the name twice.
    name = f"{project.name}/{unquote(repository_name)}"
    # Only the grammar: the length limit is checked where a repository is created, and no
    # longer name exists to be found.
    return validate_name(name, len(name))


def repository_path(name: str) -> str:
    """The API path of a repository by its full name, encoded as Harbor's clients do."""
    project, _, path = name.partition("/")
    return f"/api/v2.0/projects/{project}/repositories/{quote(quote(path, safe=''), safe='')}"


@router.get(
    "/projects/{project_name}/repositories",
    response_model=list[Repository],
    summary="The repositories of a project",
)
async def list_repositories(
    project_name: ProjectName,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    name: NameFilter = None,
) -> list[Repository]:
    project = await authorized(registry, caller, project_name, Action.REPOSITORY_PULL)
    repositories, total = await registry.catalog.repositories(
        project_id=project.id, name=name, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [repository_resp(r) for r in repositories]


@router.get(
    "/repositories",
    response_model=list[Repository],
    summary="The repositories of every project the caller may see",
)
async def list_all_repositories(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    name: NameFilter = None,
) -> list[Repository]:
    repositories, total = await registry.catalog.repositories(
        visibility=visibility(caller), name=name, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [repository_resp(r) for r in repositories]


@router.get(
    "/projects/{project_name}/repositories/{repository_name}",
    response_model=Repository,
    summary="One repository",
)
async def get_repository(
    project_name: ProjectName, repository_name: RepositoryName, registry: Services, caller: Caller
) -> Repository:
    name = await full_name(registry, caller, project_name, repository_name, Action.REPOSITORY_PULL)
    return repository_resp(await registry.catalog.repository(name))


@router.delete(
    "/projects/{project_name}/repositories/{repository_name}",
    response_class=Response,
    summary="Delete a repository with its artifacts and tags (blobs wait for GC)",
)
async def delete_repository(
    project_name: ProjectName,
    repository_name: RepositoryName,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    name = await full_name(
        registry, caller, project_name, repository_name, Action.REPOSITORY_DELETE
    )
    await registry.repositories.delete(name, actor)
    return Response(status_code=200)
