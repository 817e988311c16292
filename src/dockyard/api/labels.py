"""/labels: global labels (system admins manage them, every project uses them) and
project labels (a project's maintainers manage them), as on Harbor.

Putting a label on an artifact and taking it off are under the artifact
(``.../artifacts/{reference}/labels``, api/artifacts.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.api.bodies import MAX_ID, Body
from dockyard.api.deps import Acting, Caller, Id, Services, require_admin, require_login
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import authorized
from dockyard.artifacts.labels import (
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    LabelInfo,
)
from dockyard.errors import NotFound
from dockyard.registry import Registry

router = APIRouter(prefix="/labels", tags=["label"])

_COLOR = r"^(?:#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})?$"
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]
Color = Annotated[str, Field(pattern=_COLOR, description="#RGB or #RRGGBB, or empty")]


class Label(BaseModel):
    id: int
    name: str
    description: str
    color: str
    scope: Literal["g", "p"] = Field(description='"g": global; "p": of project_id')
    project_id: int = Field(description="0 for a global label, as on Harbor")
    creation_time: datetime
    update_time: datetime


class GlobalLabelCreate(Body):
    name: Name
    description: Description = ""
    color: Color = ""
    scope: Literal["g"] = Field(default="g", description="a global label (the default)")


class ProjectLabelCreate(Body):
    name: Name
    description: Description = ""
    color: Color = ""
    scope: Literal["p"] = Field(description="a label of one project")
    project_id: int = Field(ge=1, le=MAX_ID, description="the label's project")


# A project_id sent with a global label is ignored (Harbor's clients send 0 there).
LabelCreate = ProjectLabelCreate | GlobalLabelCreate


class LabelUpdate(Body):
    name: Name | None = None
    description: Description | None = None
    color: Color | None = None


def label_resp(label: LabelInfo) -> Label:
    return Label(
        id=label.id,
        name=label.name,
        description=label.description,
        color=label.color,
        scope="g" if label.project_id is None else "p",
        project_id=label.project_id or 0,
        creation_time=label.created_at,
        update_time=label.updated_at,
    )


async def may_manage(registry: Registry, caller: Principal, label: LabelInfo) -> None:
    """A global label is a system admin's; a project label, its maintainers'."""
    if label.project_id is None:
        require_admin(caller)
    else:
        await authorized(registry, caller, label.project_id, Action.LABEL_MANAGE)


async def may_read(registry: Registry, caller: Principal, project_id: int | None) -> None:
    """Global labels: anyone logged in; a project's: whoever may read the project."""
    if project_id is None:
        require_login(caller)
    else:
        await authorized(registry, caller, project_id, Action.PROJECT_READ)


@router.get("", response_model=list[Label], summary="Global labels, or one project's")
async def list_labels(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    scope: Annotated[Literal["g", "p"], Query(description='"g" global, "p" a project\'s')] = "g",
    project_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the project, with scope p")
    ] = None,
    name: Annotated[
        str | None, Query(max_length=NAME_MAX_LENGTH, description="a part of the name")
    ] = None,
) -> list[Label]:
    if scope == "p" and project_id is None:
        # No project named: no project's labels (Harbor asks for the project_id).
        require_login(caller)
        paginate(request, response, page, 0)
        return []
    where = project_id if scope == "p" else None
    await may_read(registry, caller, where)
    labels, total = await registry.labels.search(
        project_id=where, name=name, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [label_resp(label) for label in labels]


@router.post("", status_code=201, response_model=Label, summary="Create a label")
async def create_label(
    body: LabelCreate, response: Response, registry: Services, caller: Caller, actor: Acting
) -> Label:
    if isinstance(body, GlobalLabelCreate):
        require_admin(caller)
        project_id = None
    else:
        project_id = (await authorized(registry, caller, body.project_id, Action.LABEL_MANAGE)).id
    label = await registry.labels.create(
        body.name,
        project_id=project_id,
        description=body.description,
        color=body.color,
        actor=actor,
    )
    response.headers["Location"] = f"/api/v2.0/labels/{label.id}"
    return label_resp(label)


@router.get("/{label_id:int}", response_model=Label, summary="One label")
async def get_label(label_id: Id, registry: Services, caller: Caller) -> Label:
    label = await registry.labels.get(label_id)
    try:
        await may_read(registry, caller, label.project_id)
    except NotFound:
        # A label of a project the caller may not see is no label to them.
        raise NotFound(f"no label with id {label_id}") from None
    return label_resp(label)


@router.put("/{label_id:int}", response_model=Label, summary="Rename, describe or recolor a label")
async def update_label(
    label_id: Id, body: LabelUpdate, registry: Services, caller: Caller, actor: Acting
) -> Label:
    await may_manage(registry, caller, await registry.labels.get(label_id))
    label = await registry.labels.update(
        label_id, name=body.name, description=body.description, color=body.color, actor=actor
    )
    return label_resp(label)


@router.delete(
    "/{label_id:int}", response_class=Response, summary="Delete a label, and take it off artifacts"
)
async def delete_label(label_id: Id, registry: Services, caller: Caller, actor: Acting) -> Response:
    await may_manage(registry, caller, await registry.labels.get(label_id))
    await registry.labels.delete(label_id, actor=actor)
    return Response(status_code=200)
