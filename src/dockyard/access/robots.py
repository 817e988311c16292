"""Robot accounts: machine logins with a secret, a permission list per project, an expiry.

A robot is checked on every request, not only when its token is issued: one that
has been disabled, deleted or has expired is refused at its next request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, insert, select, update

from dockyard.access.models import Robot, RobotPermission
from dockyard.access.passwords import SecretChecker, hash_secret, new_secret
from dockyard.access.principals import Principal
from dockyard.access.rbac import ROBOT_GRANTABLE, Action
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dockyard.events.services import SYSTEM, Actor, record
from dockyard.projects.models import Project

_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_STATE = select(Robot.disabled, Robot.expires_at).where(Robot.id == bindparam("id"))
ALL_PROJECTS = "*"


@dataclass(frozen=True, slots=True)
class RobotPermissionSpec:
    """What a robot may do in one project (by name), or in every project ("*")."""

    project: str
    actions: frozenset[Action]


@dataclass(frozen=True, slots=True)
class RobotInfo:
    id: int
    name: str
    description: str
    level: str
    project: str | None
    project_id: int | None
    disabled: bool
    expires_at: datetime | None
    creator: str
    created_at: datetime
    updated_at: datetime
    permissions: tuple[RobotPermissionSpec, ...]


@dataclass(frozen=True, slots=True)
class CreatedRobot:
    robot: RobotInfo
    # Shown once, never stored in the clear.
    secret: str


def check_actions(actions: frozenset[Action]) -> None:
    refused = actions - ROBOT_GRANTABLE
    if refused:
        names = ", ".join(sorted(refused))
        raise InvalidInput(f"a robot may not be given: {names}")
    if not actions:
        raise InvalidInput("a robot permission needs at least one action")


class RobotService:
    def __init__(self, db: Database, checker: SecretChecker, prefix: str) -> None:
        self.db = db
        self.checker = checker
        self.prefix = prefix

    def full_name(self, name: str, project: str | None) -> str:
        return f"{self.prefix}{project}+{name}" if project else f"{self.prefix}{name}"

    def is_robot_name(self, username: str) -> bool:
        return username.startswith(self.prefix)

    async def create(
        self,
        name: str,
        *,
        level: Literal["system", "project"],
        permissions: list[RobotPermissionSpec],
        duration_days: int,
        description: str = "",
        actor: Actor = SYSTEM,
    ) -> CreatedRobot:
        """Create a robot; ``duration_days`` -1 means it never expires."""
        if not _NAME.match(name) or len(name) > 128:
            raise InvalidInput(
                f"invalid robot name {name!r}: lowercase letters and digits, separated by . _ -"
            )
        if duration_days == 0 or duration_days < -1:
            raise InvalidInput("duration is a positive number of days, or -1 for never")
        if not permissions:
            raise InvalidInput("a robot needs at least one permission")
        project: str | None = None
        if level == "project":
            if len(permissions) != 1 or permissions[0].project == ALL_PROJECTS:
                raise InvalidInput("a project robot has permissions on its own project only")
            project = permissions[0].project
        for permission in permissions:
            check_actions(permission.actions)
        full_name = self.full_name(name, project)
        secret = new_secret()
        secret_hash = await hash_secret(secret)
        expires_at = None if duration_days == -1 else utcnow() + timedelta(days=duration_days)
        async with self.db.write() as conn:
            if await conn.scalar(select(Robot.id).where(Robot.name == full_name)) is not None:
                raise Conflict(f"robot {full_name!r} exists already")
            project_ids = await _project_ids(conn, [p.project for p in permissions])
            result = await conn.execute(
                insert(Robot).returning(Robot.id),
                {
                    "name": full_name,
                    "description": description,
                    "level": level,
                    "project_id": project_ids[project] if project else None,
                    "secret_hash": secret_hash,
                    "disabled": False,
                    "expires_at": expires_at,
                    "creator": actor.name,
                },
            )
            robot_id = result.scalar_one()
            await _write_permissions(conn, robot_id, permissions, project_ids)
            robot = await _get(conn, robot_id)
            await record(
                conn,
                actor,
                "create",
                "robot",
                full_name,
                project_id=robot.project_id,
            )
        return CreatedRobot(robot, secret)

    async def get(self, robot_id: int) -> RobotInfo:
        async with self.db.read() as conn:
            return await _get(conn, robot_id)

    async def list_for(self, *, project_id: int | None) -> list[RobotInfo]:
        """Every system robot (``project_id`` None), or the robots of one project."""
        query = select(Robot.id).order_by(Robot.name)
        query = (
            query.where(Robot.level == "system")
            if project_id is None
            else query.where(Robot.project_id == project_id)
        )
        async with self.db.read() as conn:
            return [await _get(conn, robot_id) for robot_id in await conn.scalars(query)]

    async def update(
        self,
        robot_id: int,
        *,
        disabled: bool | None = None,
        description: str | None = None,
        permissions: list[RobotPermissionSpec] | None = None,
        duration_days: int | None = None,
        actor: Actor = SYSTEM,
    ) -> RobotInfo:
        values: dict[str, Any] = {}
        if disabled is not None:
            values["disabled"] = disabled
        if description is not None:
            values["description"] = description
        if duration_days is not None:
            if duration_days == 0 or duration_days < -1:
                raise InvalidInput("duration is a positive number of days, or -1 for never")
            values["expires_at"] = (
                None if duration_days == -1 else utcnow() + timedelta(days=duration_days)
            )
        for permission in permissions or []:
            check_actions(permission.actions)
        async with self.db.write() as conn:
            robot = await _get(conn, robot_id)
            if permissions is not None:
                if robot.level == "project" and (
                    len(permissions) != 1 or permissions[0].project != robot.project
                ):
                    # The request is fine in itself; it conflicts with what this robot is.
                    raise Conflict(
                        f"{robot.name} is a robot of project {robot.project!r}: its permissions"
                        " name that project only"
                    )
                project_ids = await _project_ids(conn, [p.project for p in permissions])
                await conn.execute(
                    delete(RobotPermission).where(RobotPermission.robot_id == robot_id)
                )
                await _write_permissions(conn, robot_id, permissions, project_ids)
            if values:
                await conn.execute(update(Robot).where(Robot.id == robot_id).values(values))
            detail = {k: str(v) for k, v in values.items()}
            if permissions is not None:
                detail["permissions"] = "changed"
            await record(
                conn,
                actor,
                "update",
                "robot",
                robot.name,
                project_id=robot.project_id,
                detail=detail,
            )
            return await _get(conn, robot_id)

    async def refresh_secret(
        self, robot_id: int, secret: str | None = None, actor: Actor = SYSTEM
    ) -> str:
        """A new secret (generated, or the caller's own); the old one stops working."""
        if secret is not None and len(secret) < 8:
            raise InvalidInput("a robot secret has at least 8 characters")
        secret = secret or new_secret()
        secret_hash = await hash_secret(secret)
        async with self.db.write() as conn:
            robot = await _get(conn, robot_id)
            await conn.execute(
                update(Robot).where(Robot.id == robot_id).values(secret_hash=secret_hash)
            )
            await record(
                conn,
                actor,
                "update",
                "robot",
                robot.name,
                project_id=robot.project_id,
                detail={"secret": "refreshed"},
            )
        return secret

    async def delete(self, robot_id: int, actor: Actor = SYSTEM) -> None:
        async with self.db.write() as conn:
            robot = await _get(conn, robot_id)
            await conn.execute(delete(Robot).where(Robot.id == robot_id))
            await record(conn, actor, "delete", "robot", robot.name, project_id=robot.project_id)

    async def authenticate(self, name: str, secret: str) -> Principal | None:
        query = select(Robot.id, Robot.secret_hash, Robot.disabled, Robot.expires_at).where(
            Robot.name == name
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not await self.checker.matches(row.secret_hash, secret):
            return None
        _refuse_inactive(name, row.disabled, row.expires_at)
        return Principal("robot", name, row.id)

    async def check_active(self, conn: Conn, robot_id: int, name: str) -> None:
        """Unauthorized unless the robot still exists, is enabled and has not expired."""
        row = (await conn.execute(_STATE, {"id": robot_id})).first()
        if row is None:
            raise Unauthorized(f"robot {name!r} no longer exists")
        _refuse_inactive(name, row.disabled, row.expires_at)

    @staticmethod
    async def permissions_in(conn: Conn, robot_id: int, project_id: int) -> frozenset[Action]:
        """What a robot may do in one project: its grant there plus its all-projects grant."""
        rows = await conn.scalars(
            select(RobotPermission.actions).where(
                RobotPermission.robot_id == robot_id,
                (RobotPermission.project_id == project_id) | RobotPermission.project_id.is_(None),
            )
        )
        return frozenset(Action(action) for text in rows for action in text.split())


def _refuse_inactive(name: str, disabled: bool, expires_at: datetime | None) -> None:
    if disabled:
        raise Unauthorized(f"robot {name!r} is disabled")
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthorized(f"robot {name!r} expired at {expires_at.isoformat()}")


async def _project_ids(conn: Conn, names: list[str]) -> dict[str, int | None]:
    ids: dict[str, int | None] = {}
    for name in names:
        if name == ALL_PROJECTS:
            ids[name] = None
            continue
        project_id = await conn.scalar(select(Project.id).where(Project.name == name))
        if project_id is None:
            raise NotFound(f"project {name!r} does not exist")
        ids[name] = project_id
    return ids


async def _write_permissions(
    conn: Conn,
    robot_id: int,
    permissions: list[RobotPermissionSpec],
    project_ids: dict[str, int | None],
) -> None:
    for permission in permissions:
        await conn.execute(
            insert(RobotPermission),
            {
                "robot_id": robot_id,
                "project_id": project_ids[permission.project],
                "actions": " ".join(sorted(permission.actions)),
            },
        )


async def _get(conn: Conn, robot_id: int) -> RobotInfo:
    row = (
        await conn.execute(
            select(Robot, Project.name.label("project_name"))
            .outerjoin(Project, Project.id == Robot.project_id)
            .where(Robot.id == robot_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no robot with id {robot_id}")
    grants = (
        await conn.execute(
            select(RobotPermission.actions, Project.name)
            .outerjoin(Project, Project.id == RobotPermission.project_id)
            .where(RobotPermission.robot_id == robot_id)
            .order_by(RobotPermission.id)
        )
    ).all()
    return RobotInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        level=row.level,
        project=row.project_name,
        project_id=row.project_id,
        disabled=row.disabled,
        expires_at=row.expires_at,
        creator=row.creator,
        created_at=row.created_at,
        updated_at=row.updated_at,
        permissions=tuple(
            RobotPermissionSpec(
                project=project or ALL_PROJECTS,
                actions=frozenset(Action(a) for a in actions.split()),
            )
            for actions, project in grants
        ),
    )
