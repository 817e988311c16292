"""/robots: system and project robot accounts, their permissions, expiry and secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.access.robots import ALL_PROJECTS, RobotInfo, RobotPermissionSpec
from dockyard.api.bodies import Body
from dockyard.api.deps import Acting, Caller, Id, Services, require_admin, require_login
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import authorized
from dockyard.errors import InvalidInput
from dockyard.registry import Registry

router = APIRouter(prefix="/robots", tags=["robot"])


PROJECT = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"
# Days a robot lives: 1 to 100 years' worth, or -1 for never expiring.
Duration = Literal[-1] | Annotated[int, Field(ge=1, le=36500)]


class ProjectAccess(Body):
    resource: Literal["project"]
    action: Literal["read"]


class RepositoryAccess(Body):
    resource: Literal["repository"]
    action: Literal["pull", "push", "delete"]


class ArtifactAccess(Body):
    resource: Literal["artifact"]
    action: Literal["read", "delete"]


class TagAccess(Body):
    resource: Literal["tag"]
    action: Literal["create", "delete"]


class ScanAccess(Body):
    resource: Literal["scan"]
    action: Literal["create"]


class LogAccess(Body):
    resource: Literal["log"]
    action: Literal["read"]


# What a robot may be given (rbac.ROBOT_GRANTABLE), pair by pair.
AccessModel = ProjectAccess | RepositoryAccess | ArtifactAccess | TagAccess | ScanAccess | LogAccess
Access = Annotated[AccessModel, Field(discriminator="resource")]


class RobotPermission(Body):
    kind: Literal["project", "system"] = "project"
    namespace: str = Field(
        pattern=r"^(\*|[a-z0-9]+(?:[._-][a-z0-9]+)*)$",
        max_length=255,
        description='a project, or "*" for every project (system robots only)',
    )
    access: list[Access] = Field(min_length=1, max_length=64)


class ProjectRobotPermission(RobotPermission):
    kind: Literal["project", "system"] = "project"
    namespace: str = Field(pattern=PROJECT, max_length=255, description="the robot's project")


class _RobotCreate(Body):
    name: str = Field(pattern=PROJECT, max_length=128)
    description: str = Field(default="", max_length=1024)
    disable: bool = False
    duration: Duration = Field(default=-1, description="days; -1 never expires")


class SystemRobotCreate(_RobotCreate):
    level: Literal["system"]
    permissions: list[RobotPermission] = Field(min_length=1, max_length=256)


class ProjectRobotCreate(_RobotCreate):
    level: Literal["project"]
    permissions: list[ProjectRobotPermission] = Field(min_length=1, max_length=1)


RobotCreate = Annotated[SystemRobotCreate | ProjectRobotCreate, Field(discriminator="level")]


class RobotUpdate(Body):
    description: str | None = Field(default=None, max_length=1024)
    disable: bool | None = None
    duration: Duration | None = Field(default=None, description="days; -1 never expires")
    permissions: list[RobotPermission] | None = Field(default=None, min_length=1, max_length=256)


class Robot(BaseModel):
    id: int
    name: str
    description: str
    level: str
    disable: bool
    expires_at: int = Field(description="Unix seconds; -1 never")
    creator: str
    permissions: list[RobotPermission]
    creation_time: datetime
    update_time: datetime


class RobotCreated(BaseModel):
    id: int
    name: str
    secret: str
    creation_time: datetime
    expires_at: int


class RobotSec(Body):
    secret: str | None = Field(default=None, min_length=8, max_length=128)


def robot_resp(robot: RobotInfo) -> Robot:
    return Robot(
        id=robot.id,
        name=robot.name,
        description=robot.description,
        level=robot.level,
        disable=robot.disabled,
        expires_at=int(robot.expires_at.timestamp()) if robot.expires_at else -1,
        creator=robot.creator,
        permissions=[
            RobotPermission(
                kind="system" if p.project == ALL_PROJECTS else "project",
                namespace=p.project,
                access=[_access(action) for action in sorted(p.actions)],
            )
            for p in robot.permissions
        ],
        creation_time=robot.created_at,
        update_time=robot.updated_at,
    )


_ACCESS: TypeAdapter[AccessModel] = TypeAdapter(Access)


def _access(action: Action) -> AccessModel:
    resource, verb = action.value.split(":")
    return _ACCESS.validate_python({"resource": resource, "action": verb})


def _specs(permissions: Sequence[RobotPermission]) -> list[RobotPermissionSpec]:
    specs = []
    for permission in permissions:
        actions = set()
        for access in permission.access:
            try:
                actions.add(Action(f"{access.resource}:{access.action}"))
            except ValueError:
                raise InvalidInput(
                    f"unknown permission {access.resource}:{access.action}"
                ) from None
        specs.append(RobotPermissionSpec(permission.namespace, frozenset(actions)))
    return specs


async def _may_manage(
    registry: Registry, caller: Principal, level: str, namespaces: list[str]
) -> None:
    """System robots are for system admins; a project robot for its project's admins."""
    require_login(caller)
    if level == "system" or caller.admin:
        require_admin(caller)
        return
    for namespace in namespaces:
        await authorized(registry, caller, namespace, Action.ROBOT_MANAGE)


@router.post("", status_code=201, response_model=RobotCreated, summary="Create a robot")
async def create_robot(
    body: RobotCreate, registry: Services, caller: Caller, actor: Acting
) -> RobotCreated:
    specs = _specs(body.permissions)
    await _may_manage(registry, caller, body.level, [s.project for s in specs])
    created = await registry.robots.create(
        body.name,
        level=body.level,
        permissions=specs,
        duration_days=body.duration,
        description=body.description,
        actor=actor,
    )
    robot = created.robot
    if body.disable:
        robot = await registry.robots.update(robot.id, disabled=True, actor=actor)
    return RobotCreated(
        id=robot.id,
        name=robot.name,
        secret=created.secret,
        creation_time=robot.created_at,
        expires_at=int(robot.expires_at.timestamp()) if robot.expires_at else -1,
    )


@router.get("", response_model=list[Robot], summary="System robots, or a project's")
async def list_robots(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    project: Annotated[str | None, Query(max_length=255, description="a project's name")] = None,
) -> list[Robot]:
    if project is None:
        require_admin(caller)
        robots = await registry.robots.list_for(project_id=None)
    else:
        found = await authorized(registry, caller, project, Action.ROBOT_READ)
        robots = await registry.robots.list_for(project_id=found.id)
    paginate(request, response, page, len(robots))
    return [robot_resp(r) for r in robots[page.offset : page.offset + page.size]]


async def _robot(registry: Registry, caller: Principal, robot_id: Id, write: bool) -> RobotInfo:
    robot = await registry.robots.get(robot_id)
    if robot.level == "system" or robot.project is None:
        require_admin(caller)
    else:
        action = Action.ROBOT_MANAGE if write else Action.ROBOT_READ
        await authorized(registry, caller, robot.project, action)
    return robot


@router.get("/{robot_id:int}", response_model=Robot, summary="One robot")
async def get_robot(robot_id: Id, registry: Services, caller: Caller) -> Robot:
    return robot_resp(await _robot(registry, caller, robot_id, write=False))


@router.put("/{robot_id:int}", response_model=Robot, summary="Update a robot")
async def update_robot(
    robot_id: Id, body: RobotUpdate, registry: Services, caller: Caller, actor: Acting
) -> Robot:
    await _robot(registry, caller, robot_id, write=True)
    specs = _specs(body.permissions) if body.permissions is not None else None
    robot = await registry.robots.update(
        robot_id,
        disabled=body.disable,
        description=body.description,
        permissions=specs,
        duration_days=body.duration,
        actor=actor,
    )
    return robot_resp(robot)


@router.patch("/{robot_id:int}", response_model=RobotSec, summary="Refresh a robot's secret")
async def refresh_secret(
    robot_id: Id, body: RobotSec, registry: Services, caller: Caller, actor: Acting
) -> RobotSec:
    await _robot(registry, caller, robot_id, write=True)
    return RobotSec(secret=await registry.robots.refresh_secret(robot_id, body.secret, actor))


@router.delete("/{robot_id:int}", response_class=Response, summary="Delete a robot")
async def delete_robot(robot_id: Id, registry: Services, caller: Caller, actor: Acting) -> Response:
    await _robot(registry, caller, robot_id, write=True)
    await registry.robots.delete(robot_id, actor)
    return Response(status_code=200)
