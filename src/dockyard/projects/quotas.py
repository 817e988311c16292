"""Quotas: what each project may store and hold, and what it uses, exact at every commit.

A project's usage is the bytes of the distinct blobs its repositories hold (a blob
in three of its repositories counts once) and the number of its artifacts
(manifests). It lives in ``project_usage``, with ``project_blobs`` listing the blobs
counted, and every transaction that changes a project's blob links or manifests
ends with :func:`settle`, which locks the project's usage row and reconciles: the
blobs it touched are counted or uncounted by what the repositories link now, seen
by a statement that runs after the lock is taken. Since every such transaction of
the project takes that lock before it looks, the looks are serial and nothing is
counted twice or lost, however many replicas push at once. The lock is the last
thing a transaction takes, so it is held for the length of its commit only.

A change that would take the project over a limit is refused: first, before any
data is accepted, by :meth:`QuotaService.check_room` (an upload that would not fit);
then exactly, under the lock, by :func:`settle`. Refusals are QUOTA_EXCEED events.
Removing things is never refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from dockyard.artifacts.models import Manifest
from dockyard.blobs.models import Blob, RepositoryBlob
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import Denied, InvalidInput, NotFound
from dockyard.events.services import SYSTEM, record
from dockyard.projects.models import Project, ProjectBlob, ProjectUsage, Repository
from dockyard.projects.names import project_of

# The largest limit: what a JSON number carries exactly.
MAX_LIMIT = 2**53 - 1
_SLICE = 1000


class QuotaExceeded(Denied):
    """The change would take a project over its storage or artifact limit (403 DENIED)."""

    def __init__(self, message: str, *, project_id: int, project: str, detail: Any) -> None:
        super().__init__(message, detail)
        self.project_id = project_id
        self.project = project


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    project_id: int
    project: str
    storage_limit: int  # bytes; -1: unlimited
    count_limit: int  # artifacts; -1: unlimited
    storage_used: int
    artifact_count: int


_COLUMNS = (
    ProjectUsage.project_id,
    Project.name,
    Project.storage_limit,
    Project.count_limit,
    ProjectUsage.storage_used,
    ProjectUsage.artifact_count,
)
# Takes the project's usage lock (a row lock of project_usage until the commit).
_LOCK = (
    update(ProjectUsage)
    .where(ProjectUsage.project_id == bindparam("project"))
    .values(artifact_count=ProjectUsage.artifact_count + bindparam("artifacts"))
    .returning(ProjectUsage.artifact_count)
)
_LIMITS = select(Project.name, Project.storage_limit, Project.count_limit).where(
    Project.id == bindparam("project")
)
_COUNTED = select(ProjectBlob.digest, ProjectBlob.size).where(
    ProjectBlob.project_id == bindparam("project"),
    ProjectBlob.digest.in_(bindparam("digests", expanding=True)),
)
_LINKED = select(Blob.digest, Blob.size).where(
    Blob.digest.in_(bindparam("digests", expanding=True)),
    Blob.deleting.is_(False),
    select(RepositoryBlob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(RepositoryBlob.digest == Blob.digest)
    .where(Repository.project_id == bindparam("project"))
    .exists(),
)
_UNCOUNT = delete(ProjectBlob).where(
    ProjectBlob.project_id == bindparam("project"),
    ProjectBlob.digest.in_(bindparam("digests", expanding=True)),
)
_GROW = (
    update(ProjectUsage)
    .where(ProjectUsage.project_id == bindparam("project"))
    .values(storage_used=ProjectUsage.storage_used + bindparam("delta"))
    .returning(ProjectUsage.storage_used)
)
_PROJECT_OF = select(Repository.project_id).where(Repository.id == bindparam("repository"))
_GET = select(*_COLUMNS).join(Project, Project.id == ProjectUsage.project_id)
# Read before every upload request: built once.
_ROOM = (
    select(
        Project.id,
        Project.name,
        Project.storage_limit,
        ProjectUsage.storage_used,
        select(ProjectBlob.digest)
        .where(ProjectBlob.project_id == Project.id, ProjectBlob.digest == bindparam("digest"))
        .exists()
        .label("held"),
    )
    .join(ProjectUsage, ProjectUsage.project_id == Project.id)
    .where(Project.name == bindparam("project"))
)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # the loop returns at TiB


async def settle(
    conn: Conn, project_id: int, *, digests: Collection[str] = (), artifacts: int = 0
) -> None:
    """Bring the project's usage up to date with what ``conn``'s transaction did: the
    blob links of ``digests`` it added or removed, ``artifacts`` manifests it added
    (or, negative, removed). QuotaExceeded, and nothing changes, when that grows the
    project past a limit. Call it last in the transaction."""
    count = await conn.scalar(_LOCK, {"project": project_id, "artifacts": artifacts})
    if count is None:
        return  # the project is gone (deleted in this transaction)
    delta = 0
    touched = sorted(set(digests))
    # In slices: a repository's deletion touches all its blobs, and a statement takes
    # some 32,000 parameters at most (SQLite and PostgreSQL alike).
    for start in range(0, len(touched), _SLICE):
        keys = {"project": project_id, "digests": touched[start : start + _SLICE]}
        counted: dict[str, int] = {d: n for d, n in await conn.execute(_COUNTED, keys)}
        linked: dict[str, int] = {d: n for d, n in await conn.execute(_LINKED, keys)}
        gone = sorted(set(counted) - set(linked))
        new = sorted(set(linked) - set(counted))
        if gone:
            await conn.execute(_UNCOUNT, {"project": project_id, "digests": gone})
        if new:
            await conn.execute(
                insert(ProjectBlob),
                [{"project_id": project_id, "digest": d, "size": linked[d]} for d in new],
            )
        delta += sum(linked[d] for d in new) - sum(counted[d] for d in gone)
    used = None
    if delta:
        used = await conn.scalar(_GROW, {"project": project_id, "delta": delta})
    if delta > 0 or artifacts > 0:
        name, storage_limit, count_limit = (
            await conn.execute(_LIMITS, {"project": project_id})
        ).one()
        if delta > 0 and used is not None and 0 <= storage_limit < used:
            raise _exceeded(project_id, name, "storage", delta, used - delta, storage_limit)
        if artifacts > 0 and 0 <= count_limit < count:
            raise _exceeded(project_id, name, "count", artifacts, count - artifacts, count_limit)


async def settle_repository(
    conn: Conn, repository_id: int, *, digests: Collection[str] = (), artifacts: int = 0
) -> None:
    """:func:`settle` for the project of a repository."""
    project_id = await conn.scalar(_PROJECT_OF, {"repository": repository_id})
    if project_id is not None:
        await settle(conn, project_id, digests=digests, artifacts=artifacts)


def _exceeded(
    project_id: int, project: str, resource: str, adding: int, used: int, limit: int
) -> QuotaExceeded:
    if resource == "storage":
        message = (
            f"quota exceeded: adding {_size(adding)} to project {project!r}, which uses "
            f"{_size(used)}, would exceed its storage limit of {_size(limit)}"
        )
    else:
        message = (
            f"quota exceeded: adding {adding} artifacts to project {project!r}, which has "
            f"{used}, would exceed its limit of {limit} artifacts"
        )
    detail = {"resource": resource, "adding": adding, "used": used, "limit": limit}
    return QuotaExceeded(message, project_id=project_id, project=project, detail=detail)


class QuotaService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def events(self) -> AsyncIterator[None]:
        """Record a QUOTA_EXCEED event for a refusal raised in the block (after its
        transaction rolled back), and let the refusal go on."""
        try:
            yield
        except QuotaExceeded as exc:
            async with self.db.write() as conn:
                await record(
                    conn,
                    SYSTEM,
                    "quota_exceed",
                    "project",
                    exc.project,
                    project_id=exc.project_id,
                    detail=exc.detail,
                )
            raise

    async def check_room(self, repository: str, incoming: int, digest: str = "") -> None:
        """Refuse, before any data is accepted, an upload of ``incoming`` bytes to
        ``repository`` that its project has no room for (with its event); an upload of a
        blob (``digest``) that the project holds already costs nothing."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(_ROOM, {"project": project_of(repository), "digest": digest})
            ).first()
        if row is None or row.storage_limit < 0 or row.held:
            return
        if row.storage_used + max(incoming, 1) > row.storage_limit:
            async with self.events():
                raise _exceeded(
                    row.id, row.name, "storage", incoming, row.storage_used, row.storage_limit
                )

    async def get(self, project_id: int) -> QuotaInfo:
        async with self.db.read() as conn:
            row = (await conn.execute(_GET.where(ProjectUsage.project_id == project_id))).first()
        if row is None:
            raise NotFound(f"quota {project_id} not found")
        return QuotaInfo(*row)

    async def search(
        self, *, project_id: int | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[QuotaInfo], int]:
        """Quotas by project name; and how many there are."""
        conditions = [] if project_id is None else [ProjectUsage.project_id == project_id]
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    _GET.where(*conditions).order_by(Project.name).offset(offset).limit(limit)
                )
            ).all()
            total = await conn.scalar(
                select(func.count()).select_from(ProjectUsage).where(*conditions)
            )
        return [QuotaInfo(*row) for row in rows], int(total or 0)

    async def set_limits(
        self, project_id: int, *, storage: int | None = None, count: int | None = None
    ) -> QuotaInfo:
        """Change a project's limits (-1: unlimited). A limit below the usage is allowed:
        it stops the project from growing until it shrinks under it."""
        values: dict[str, int] = {}
        for name, value in (("storage_limit", storage), ("count_limit", count)):
            if value is not None:
                if not -1 <= value <= MAX_LIMIT:
                    raise InvalidInput(f"{name} is -1 (unlimited) or a number up to {MAX_LIMIT}")
                values[name] = value
        if values:
            async with self.db.write() as conn:
                result = await conn.execute(
                    update(Project).where(Project.id == project_id).values(values)
                )
            if result.rowcount == 0:
                raise NotFound(f"quota {project_id} not found")
        return await self.get(project_id)

    async def recompute(self, project_id: int) -> tuple[int, int]:
        """The project's usage computed from scratch (bytes, artifacts), to compare with
        the kept one; nothing changes."""
        linked = (
            select(RepositoryBlob.digest)
            .join(Repository, Repository.id == RepositoryBlob.repository_id)
            .where(Repository.project_id == project_id)
            .distinct()
            .subquery()
        )
        async with self.db.read() as conn:
            storage = await conn.scalar(
                select(func.coalesce(func.sum(Blob.size), 0))
                .join(linked, linked.c.digest == Blob.digest)
                .where(Blob.deleting.is_(False))
            )
            artifacts = await conn.scalar(
                select(func.count())
                .select_from(Manifest)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.project_id == project_id)
            )
        return int(storage or 0), int(artifacts or 0)
