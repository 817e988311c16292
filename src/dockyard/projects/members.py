"""Project members: users and groups, each with one role in a project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, delete, insert, or_, select, update

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound
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


class MemberService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, project_id: int, entity_type: Literal["u", "g"], entity_id: int, role: int
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
            return Member(result.scalar_one(), project_id, entity_type, entity_id, role)

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
        for member in await self.list(project_id):
            if member.id == member_id:
                return member
        raise NotFound(f"no member {member_id} in this project")

    async def set_role(self, project_id: int, member_id: int, role: int) -> Member:
        _check_role(role)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(ProjectMember)
                .where(ProjectMember.id == member_id, ProjectMember.project_id == project_id)
                .values(role=role)
            )
        if result.rowcount == 0:
            raise NotFound(f"no member {member_id} in this project")
        return await self.get(project_id, member_id)

    async def remove(self, project_id: int, member_id: int) -> None:
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(ProjectMember).where(
                    ProjectMember.id == member_id, ProjectMember.project_id == project_id
                )
            )
        if result.rowcount == 0:
            raise NotFound(f"no member {member_id} in this project")

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


def _check_role(role: int) -> None:
    if role not in ROLE_IDS:
        raise InvalidInput(
            "role_id is 1 (project admin), 2 (developer), 3 (guest), 4 (maintainer)"
            " or 5 (limited guest)"
        )
