"""Project members: users and groups, each with one role in a project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, delete, insert, or_, select, update

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.events.services import SYSTEM, Actor, record
from dockyard.projects.models import ProjectMember

# Harbor's role ids: 1 project admin, 2 developer, 3 guest, 4 maintainer, 5 limited guest.
ROLE_IDS = frozenset({1, 2, 3, 4, 5})

_ROLES_OF_USER = select(ProjectMember.role).where(
    ProjectMember.project_id == bindparam("project_id"),
    ProjectMember.entity_type == "u",
    ProjectMember.entity_id == bindparam("user_id"),
)


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    project_id: int
    entity_type: Literal["u", "g"]
    entity_id: int
    role: int

    @property
    def resource(self) -> str:
        """How the audit log names a membership: "u:<user id>" or "g:<group id>"."""
        return f"{self.entity_type}:{self.entity_id}"


class MemberService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        project_id: int,
        entity_type: Literal["u", "g"],
        entity_id: int,
        role: int,
        actor: Actor = SYSTEM,
    ) -> Member:
        _check_role(role)
        async with self.db.write() as conn:
            existing = await conn.scalar(
                select(ProjectMember.id).where(
                    ProjectMember.project_id == project_id,
                    ProjectMember.entity_type == entity_type,
                    ProjectMember.entity_id == entity_id,
                )
            )
            if existing is not None:
                raise Conflict("that user or group is a member of the project already")
            result = await conn.execute(
                insert(ProjectMember).returning(ProjectMember.id),
                {
                    "project_id": project_id,
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "role": role,
                },
            )
            member = Member(result.scalar_one(), project_id, entity_type, entity_id, role)
            await record(
                conn,
                actor,
                "create",
                "member",
                member.resource,
                project_id=project_id,
                detail={"role_id": role},
            )
            return member

    async def list(self, project_id: int) -> list[Member]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    ProjectMember.id,
                    ProjectMember.project_id,
                    ProjectMember.entity_type,
                    ProjectMember.entity_id,
                    ProjectMember.role,
                )
                .where(ProjectMember.project_id == project_id)
                .order_by(ProjectMember.id)
            )
            return [Member(*row) for row in rows]

    async def get(self, project_id: int, member_id: int) -> Member:
        async with self.db.read() as conn:
            return await _member(conn, project_id, member_id)

    async def set_role(
        self, project_id: int, member_id: int, role: int, actor: Actor = SYSTEM
    ) -> Member:
        _check_role(role)
        async with self.db.write() as conn:
            member = await _member(conn, project_id, member_id)
            await conn.execute(
                update(ProjectMember).where(ProjectMember.id == member_id).values(role=role)
            )
            await record(
                conn,
                actor,
                "update",
                "member",
                member.resource,
                project_id=project_id,
                detail={"role_id": role},
            )
        return Member(member.id, project_id, member.entity_type, member.entity_id, role)

    async def remove(self, project_id: int, member_id: int, actor: Actor = SYSTEM) -> None:
        async with self.db.write() as conn:
            member = await _member(conn, project_id, member_id)
            await conn.execute(delete(ProjectMember).where(ProjectMember.id == member_id))
            await record(conn, actor, "delete", "member", member.resource, project_id=project_id)

    @staticmethod
    async def roles(
        conn: Conn, project_id: int, user_id: int, group_ids: tuple[int, ...]
    ) -> set[int]:
        """The roles a user holds in a project, directly or through its groups."""
        if not group_ids:
            return set(
                await conn.scalars(_ROLES_OF_USER, {"project_id": project_id, "user_id": user_id})
            )
        query = select(ProjectMember.role).where(
            ProjectMember.project_id == project_id,
            or_(
                (ProjectMember.entity_type == "u") & (ProjectMember.entity_id == user_id),
                (ProjectMember.entity_type == "g") & ProjectMember.entity_id.in_(group_ids),
            ),
        )
        return set(await conn.scalars(query))


async def _member(conn: Conn, project_id: int, member_id: int) -> Member:
    row = (
        await conn.execute(
            select(
                ProjectMember.id,
                ProjectMember.project_id,
                ProjectMember.entity_type,
                ProjectMember.entity_id,
                ProjectMember.role,
            ).where(ProjectMember.id == member_id, ProjectMember.project_id == project_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no member {member_id} in this project")
    return Member(*row)


def _check_role(role: int) -> None:
    if role not in ROLE_IDS:
        raise InvalidInput(
            "role_id is 1 (project admin), 2 (developer), 3 (guest), 4 (maintainer)"
            " or 5 (limited guest)"
        )
