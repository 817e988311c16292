"""Tagging and untagging an artifact from the management API, as Harbor does it."""

from __future__ import annotations

from sqlalchemy import delete, select

from dockyard.artifacts.lookup import find_artifact
from dockyard.artifacts.models import Tag
from dockyard.artifacts.services import ManifestService
from dockyard.db import Database
from dockyard.errors import Conflict, NotFound
from dockyard.events.services import Actor, record
from dockyard.projects.immutability import check_mutable
from dockyard.projects.names import validate_tag


class TagService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, name: str, reference: str, tag: str, actor: Actor) -> None:
        """Tag the artifact ``reference`` names; Conflict when the repository has the tag
        already, on this artifact or another (Harbor moves no tag here)."""
        validate_tag(tag)
        async with self.db.write() as conn:
            artifact = await find_artifact(conn, name, reference, hold=True)
            taken = await conn.scalar(
                select(Tag.id).where(Tag.repository_id == artifact.repository_id, Tag.name == tag)
            )
            if taken is not None:
                raise Conflict(f"tag {tag!r} exists already in {name!r}")
            await ManifestService.set_tag(conn, artifact.repository_id, tag, artifact.id)
            await record(
                conn,
                actor,
                "create",
                "tag",
                f"{name}:{tag}",
                project_id=artifact.project_id,
                detail={"digest": artifact.digest},
            )

    async def delete(self, name: str, reference: str, tag: str, actor: Actor) -> None:
        """Remove a tag from the artifact ``reference`` names; NotFound when the artifact
        does not carry it. The artifact stays, tagged or not."""
        validate_tag(tag)
        async with self.db.write() as conn:
            artifact = await find_artifact(conn, name, reference)
            result = await conn.execute(
                delete(Tag).where(Tag.manifest_id == artifact.id, Tag.name == tag)
            )
            if result.rowcount == 0:
                raise NotFound(f"artifact {artifact.digest} has no tag {tag!r}")
            await check_mutable(conn, artifact.project_id, name, [tag], "delete")
            await record(
                conn,
                actor,
                "delete",
                "tag",
                f"{name}:{tag}",
                project_id=artifact.project_id,
                detail={"digest": artifact.digest},
            )
