"""Repositories: lookup, creation on first push into an existing project, and the catalog."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.db.statements import LexicalPage, insert_ignore
from dockyard.errors import NameUnknown
from dockyard.projects.models import Project, Repository
from dockyard.projects.names import project_of

_CATALOG_PAGE = LexicalPage(Repository.name)
_FIND = select(Repository.id).where(Repository.name == bindparam("name"))


class RepositoryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def find(conn: Conn, name: str) -> int | None:
        """The id of a repository, or None when it does not exist."""
        repository_id: int | None = await conn.scalar(_FIND, {"name": name})
        return repository_id

    async def ensure(self, conn: Conn, name: str) -> int:
        """The id of a repository, creating it on first use (in ``conn``'s write
        transaction). Projects are explicit: one that does not exist is NameUnknown."""
        repository_id = await self.find(conn, name)
        if repository_id is not None:
            return repository_id
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
        repository_id = await self.find(conn, name)
        assert repository_id is not None  # inserted just above in the same transaction
        return repository_id

    async def catalog(self, limit: int, last: str | None) -> list[str]:
        """Repository names in lexical order after ``last``, at most ``limit`` of them."""
        async with self.db.read() as conn:
            return await _CATALOG_PAGE.fetch(conn, last, limit)
