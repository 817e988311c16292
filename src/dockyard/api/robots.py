"""/robots: system and project robot accounts, their permissions, expiry and secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.access.robots import ALL_PROJECTS, RobotInfo, RobotPermissionSpec
from dockyard.api.deps import Caller, Services, require_admin, require_login
from dockyard.api.projects import authorized
from dockyard.errors import InvalidInput
from dockyard.registry import Registry

router = APIRouter(prefix="/robots", tags=["robot"])


class Access(BaseModel):
    resource: str = Field(max_length=64)
    action: str = Field(max_length=64)


class RobotPermission(BaseModel):
    kind: Literal["project", "system"] = "project"
    namespace: str = Field(min_length=1, max_length=255, description='a project, or "*"')
    access: list[Access] = Field(min_length=1, max_length=64)


class RobotCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=1024)
    level: Literal["system", "project"]
    disable: bool = False
    duration: int = Field(default=-1, ge=-1, le=36500, description="days; -1 never expires")
    permissions: list[RobotPermission] = Field(min_length=1, max_length=256)


class RobotUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=1024)
    disable: bool | None = None
    duration: int | None = Field(default=None, ge=-1, le=36500)
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


class RobotSec(BaseModel):
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
                access=[
                    Access(resource=a.split(":")[0], action=a.split(":")[1])
                    for a in sorted(p.actions)
                ],
            )
            for p in robot.permissions
        ],
        creation_time=robot.created_at,
        update_time=robot.updated_at,
    )


def _specs(permissions: list[RobotPermission]) -> list[RobotPermissionSpec]:
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
async def create_robot(body: RobotCreate, registry: Services, caller: Caller) -> RobotCreated:
    specs = _specs(body.permissions)
    await _may_manage(registry, caller, body.level, [s.project for s in specs])
    created = await registry.robots.create(
        body.name,
        level=body.level,
        permissions=specs,
        duration_days=body.duration,
        description=body.description,
        creator=caller.name,
    )
    robot = created.robot
    if body.disable:
        robot = await registry.robots.update(robot.id, disabled=True)
    return RobotCreated(
        id=robot.id,
        name=robot.name,
        secret=created.secret,
        creation_time=robot.created_at,
        expires_at=int(robot.expires_at.timestamp()) if robot.expires_at else -1,
    )


@router.get("", response_model=list[Robot], summary="System robots, or a project's")
async def list_robots(
    registry: Services,
    caller: Caller,
    project: Annotated[str | None, Query(max_length=255, description="a project's name")] = None,
) -> list[Robot]:
    if project is None:
        require_admin(caller)
        robots = await registry.robots.list_for(project_id=None)
    else:
        found = await authorized(registry, caller, project, Action.ROBOT_READ)
        robots = await registry.robots.list_for(project_id=found.id)
    return [robot_resp(r) for r in robots]


async def _robot(registry: Registry, caller: Principal, robot_id: int, write: bool) -> RobotInfo:
    robot = await registry.robots.get(robot_id)
    if robot.level == "system" or robot.project is None:
        require_admin(caller)
    else:
        action = Action.ROBOT_MANAGE if write else Action.ROBOT_READ
        await authorized(registry, caller, robot.project, action)
    return robot


@router.get("/{robot_id}", response_model=Robot, summary="One robot")
async def get_robot(robot_id: int, registry: Services, caller: Caller) -> Robot:
    return robot_resp(await _robot(registry, caller, robot_id, write=False))


@router.put("/{robot_id}", response_model=Robot, summary="Update a robot")
async def update_robot(
    robot_id: int, body: RobotUpdate, registry: Services, caller: Caller
) -> Robot:
    await _robot(registry, caller, robot_id, write=True)
    specs = _specs(body.permissions) if body.permissions is not None else None
    robot = await registry.robots.update(
        robot_id,
        disabled=body.disable,
        description=body.description,
        permissions=specs,
        duration_days=body.duration,
    )
    return robot_resp(robot)


@router.patch("/{robot_id}", response_model=RobotSec, summary="Refresh a robot's secret")
async def refresh_secret(
    robot_id: int, body: RobotSec, registry: Services, caller: Caller
) -> RobotSec:
    await _robot(registry, caller, robot_id, write=True)
    return RobotSec(secret=await registry.robots.refresh_secret(robot_id, body.secret))


@router.delete("/{robot_id}", response_class=Response, summary="Delete a robot")
async def delete_robot(robot_id: int, registry: Services, caller: Caller) -> Response:
    await _robot(registry, caller, robot_id, write=True)
    await registry.robots.delete(robot_id)
    return Response(status_code=200)
