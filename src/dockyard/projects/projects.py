"""Projects: creation, visibility, metadata, listing, and deletion of empty ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.events.services import SYSTEM, Actor, record
from dockyard.projects.models import Project, ProjectMember, ProjectUsage, Repository

# Harbor's project names: lowercase letters and digits, separated by . _ or -.
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# Metadata keys Harbor users set; values are strings, as on Harbor.
METADATA_KEYS = frozenset(
    {
        "public",
        "auto_scan",
        "auto_sbom_generation",
        "severity",
        "prevent_vul",
        "enable_content_trust",
        "enable_content_trust_cosign",
        "reuse_sys_cve_allowlist",
    }
)


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    name: str
    public: bool
    owner_id: int | None
    metadata: dict[str, str]
    storage_limit: int
    repository_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which projects a caller may see: public ones, and those it is a member of."""

    admin: bool
    user_id: int | None = None
    group_ids: tuple[int, ...] = ()
    # Projects a robot was given permissions on (None: every project).
    project_ids: tuple[int, ...] | None = ()


def check_project_name(name: str) -> None:
    if not 1 <= len(name) <= 255 or not _NAME.match(name):
        raise InvalidInput(
            f"invalid project name {name!r}: lowercase letters and digits, separated by . _ or -"
        )


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    unknown = set(metadata) - METADATA_KEYS
    if unknown:
        raise InvalidInput(f"unknown project metadata: {', '.join(sorted(unknown))}")
    for key, value in metadata.items():
        if key != "severity" and value not in ("true", "false"):
            raise InvalidInput(f"project metadata {key!r} is 'true' or 'false'")
    severity = metadata.get("severity")
    if severity is not None and severity not in ("none", "low", "medium", "high", "critical"):
        raise InvalidInput("severity is one of none, low, medium, high, critical")
    return metadata


# Built once: the data plane asks this on every anonymous or Basic request, and building
# the statement cost ten times more than running it (profiled under the bench's reads).
_FIND = select(Project.id, Project.public).where(Project.name == bindparam("name"))


class ProjectService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        name: str,
        *,
        public: bool,
        owner_id: int | None,
        metadata: dict[str, str] | None = None,
        storage_limit: int = -1,
        actor: Actor = SYSTEM,
    ) -> ProjectInfo:
        check_project_name(name)
        extra = check_metadata(dict(metadata or {}))
        extra.pop("public", None)
        if storage_limit < -1:
            raise InvalidInput("storage_limit is a number of bytes, or -1 for unlimited")
        async with self.db.write() as conn:
            if await conn.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise Conflict(f"project {name!r} exists already")
            result = await conn.execute(
                insert(Project).returning(Project.id),
                {
                    "name": name,
                    "public": public,
                    "owner_id": owner_id,
                    "metadata_json": orjson.dumps(extra).decode(),
                    "storage_limit": storage_limit,
                },
            )
            project_id = result.scalar_one()
            await conn.execute(
                insert(ProjectUsage),
                {"project_id": project_id, "storage_used": 0, "artifact_count": 0},
            )
            await record(conn, actor, "create", "project", name, project_id=project_id)
            if owner_id is not None:
                # The creator administers the project, as on Harbor.
                await conn.execute(
                    insert(ProjectMember),
                    {
                        "project_id": project_id,
                        "entity_type": "u",
                        "entity_id": owner_id,
                        "role": 1,
                    },
                )
            return await _get(conn, Project.id == project_id)

    async def get(self, name_or_id: str | int) -> ProjectInfo:
        async with self.db.read() as conn:
            return await _get(conn, _by(name_or_id))

    async def find(self, conn: Conn, name: str) -> tuple[int, bool] | None:
        """(id, public) of a project, or None when it does not exist."""
        row = (await conn.execute(_FIND, {"name": name})).first()
        return (row.id, row.public) if row is not None else None

    async def update(
        self,
        name_or_id: str | int,
        *,
        public: bool | None = None,
        metadata: dict[str, str] | None = None,
        storage_limit: int | None = None,
        actor: Actor = SYSTEM,
    ) -> ProjectInfo:
        async with self.db.write() as conn:
            project = await _get(conn, _by(name_or_id))
            values: dict[str, Any] = {}
            if metadata is not None:
                merged = {**project.metadata, **check_metadata(dict(metadata))}
                if "public" in merged:
                    public = merged.pop("public") == "true" if public is None else public
                values["metadata_json"] = orjson.dumps(merged).decode()
            if public is not None:
                values["public"] = public
            if storage_limit is not None:
                if storage_limit < -1:
                    raise InvalidInput("storage_limit is a number of bytes, or -1 for unlimited")
                values["storage_limit"] = storage_limit
            if values:
                await conn.execute(update(Project).where(Project.id == project.id).values(values))
                await record(
                    conn,
                    actor,
                    "update",
                    "project",
                    project.name,
                    project_id=project.id,
                    detail={k: v for k, v in values.items() if k != "metadata_json"},
                )
            return await _get(conn, Project.id == project.id)

    async def delete(self, name_or_id: str | int, actor: Actor = SYSTEM) -> None:
        async with self.db.write() as conn:
            project = await _get(conn, _by(name_or_id))
            if project.repository_count:
                raise Conflict(
                    f"project {project.name!r} still has {project.repository_count}"
                    " repositories; delete them first"
                )
            await conn.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
            await conn.execute(delete(Project).where(Project.id == project.id))
            await record(conn, actor, "delete", "project", project.name, project_id=project.id)

    async def search(
        self,
        visibility: Visibility,
        *,
        name: str | None = None,
        public: bool | None = None,
        offset: int,
        limit: int,
    ) -> tuple[list[ProjectInfo], int]:
        """The projects a caller may see, by name; and how many there are."""
        conditions: list[ColumnElement[bool]] = [_visible(visibility)]
        if name:
            conditions.append(Project.name.contains(name, autoescape=True))
        if public is not None:
            conditions.append(Project.public == public)
        async with self.db.read() as conn:
            ids = await conn.scalars(
                select(Project.id)
                .where(*conditions)
                .order_by(Project.name)
                .offset(offset)
                .limit(limit)
            )
            projects = [await _get(conn, Project.id == project_id) for project_id in ids]
            total = await conn.scalar(select(func.count()).select_from(Project).where(*conditions))
        return projects, int(total or 0)


def _visible(visibility: Visibility) -> ColumnElement[bool]:
    if visibility.admin or visibility.project_ids is None:
        return true()
    members = [
        (ProjectMember.entity_type == "g") & ProjectMember.entity_id.in_(visibility.group_ids)
    ]
    if visibility.user_id is not None:
        members.append(
            (ProjectMember.entity_type == "u") & (ProjectMember.entity_id == visibility.user_id)
        )
    member_of = select(ProjectMember.project_id).where(or_(*members))
    return or_(
        Project.public == true(),
        Project.id.in_(member_of) if visibility.user_id is not None else false(),
        Project.id.in_(visibility.project_ids),
    )


def visible_projects(visibility: Visibility) -> Select[int]:
    """The ids of the projects a caller may see, to use as a subquery."""
    return select(Project.id).where(_visible(visibility))


def _by(name_or_id: str | int) -> ColumnElement[bool]:
    return Project.id == name_or_id if isinstance(name_or_id, int) else Project.name == name_or_id


async def _get(conn: Conn, condition: ColumnElement[bool]) -> ProjectInfo:
    repositories = (
        select(func.count())
        .select_from(Repository)
        .where(Repository.project_id == Project.id)
        .scalar_subquery()
    )
    row = (
        await conn.execute(
            select(
                Project.id,
                Project.name,
                Project.public,
                Project.owner_id,
                Project.metadata_json,
                Project.storage_limit,
                repositories,
                Project.created_at,
                Project.updated_at,
            ).where(condition)
        )
    ).first()
    if row is None:
        raise NotFound("project not found")
    metadata = orjson.loads(row[4])
    metadata["public"] = "true" if row[2] else "false"
    return ProjectInfo(row[0], row[1], row[2], row[3], metadata, row[5], row[6], row[7], row[8])
