"""Repositories: lookup, creation on first push into an existing project, the catalog, deletion."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select

from dockyard.artifacts.models import Manifest, Tag
from dockyard.blobs.models import RepositoryBlob
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.db.statements import LexicalPage, insert_ignore
from dockyard.errors import NameUnknown, NotFound
from dockyard.events.services import Actor, record
from dockyard.projects.immutability import check_mutable
from dockyard.projects.models import Project, Repository
from dockyard.projects.names import project_of
from dockyard.projects.quotas import settle

_CATALOG_PAGE = LexicalPage(Repository.name)
_FIND = select(Repository.id).where(Repository.name == bindparam("name"))
_LOCATE = (
    select(Repository.id, Repository.project_id, Project.metadata_json)
    .join(Project, Project.id == Repository.project_id)
    .where(Repository.name == bindparam("name"))
)


@dataclass(frozen=True, slots=True)
class RepositoryKey:
    """A repository's id and its project's: what a change records in the audit log."""

    id: int
    project_id: int
    # The project's metadata as stored (JSON text): what a push does next depends on it
    # (scan on push), and reading it here costs no query of its own.
    project_metadata: str = "{}"


class RepositoryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def find(conn: Conn, name: str) -> int | None:
        """The id of a repository, or None when it does not exist."""
        repository_id: int | None = await conn.scalar(_FIND, {"name": name})
        return repository_id

    @staticmethod
    async def locate(conn: Conn, name: str) -> RepositoryKey | None:
        """The ids of a repository and of its project, or None when it does not exist."""
        row = (await conn.execute(_LOCATE, {"name": name})).first()
        if row is None:
            return None
        return RepositoryKey(row.id, row.project_id, row.metadata_json)

    async def ensure(self, conn: Conn, name: str) -> int:
        """The id of a repository, creating it on first use (in ``conn``'s write
        transaction). Projects are explicit: one that does not exist is NameUnknown."""
        repository_id = await self.find(conn, name)
        if repository_id is not None:
            return repository_id
        return (await self._create(conn, name)).id

    async def ensure_key(self, conn: Conn, name: str) -> RepositoryKey:
        """As :meth:`ensure`, with the project's id too, from the same one query."""
        key = await self.locate(conn, name)
        return key if key is not None else await self._create(conn, name)

    async def _create(self, conn: Conn, name: str) -> RepositoryKey:
        project = project_of(name)
        project_id = await conn.scalar(select(Project.id).where(Project.name == project))
        if project_id is None:
            raise NameUnknown(
                f"project {project!r} does not exist; an administrator creates it first",
                detail={"name": name},
            )
        await conn.execute(
            insert_ignore(conn, Repository, ["name"]), {"name": name, "project_id": project_id}
        )
        key = await self.locate(conn, name)
        assert key is not None  # inserted just above in the same transaction
        return key

    async def catalog(self, limit: int, last: str | None) -> list[str]:
        """Repository names in lexical order after ``last``, at most ``limit`` of them."""
        async with self.db.read() as conn:
            return await _CATALOG_PAGE.fetch(conn, last, limit)

    async def delete(self, name: str, actor: Actor) -> None:
        """Delete a repository with its artifacts, tags and upload sessions; the blobs
        stay in storage until garbage collection finds nothing references them."""
        async with self.db.write() as conn:
            key = await self.locate(conn, name)
            if key is None:
                raise NotFound(f"repository {name!r} not found")
            tags = await conn.scalars(select(Tag.name).where(Tag.repository_id == key.id))
            await check_mutable(conn, key.project_id, name, tags, "delete")
            linked = (
                await conn.scalars(
                    select(RepositoryBlob.digest).where(RepositoryBlob.repository_id == key.id)
                )
            ).all()
            artifacts = await conn.scalar(
                select(func.count()).select_from(Manifest).where(Manifest.repository_id == key.id)
            )
            # The foreign keys cascade to manifests, tags, blob links and upload sessions.
            await conn.execute(delete(Repository).where(Repository.id == key.id))
            await settle(conn, key.project_id, digests=linked, artifacts=-int(artifacts or 0))
            await record(conn, actor, "delete", "repository", name, project_id=key.project_id)
