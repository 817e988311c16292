"""Garbage collection: the ``gc.run`` job, online, while pushes and pulls go on.

A run plans from the metadata, then removes in small batches, each re-checked
under row locks against what happened since the plan:

1. With ``delete_untagged``: artifacts (manifests) that have no tag, no referrer,
   no index that lists them, and no subject in their repository any more (an
   accessory stays while its subject does), pushed before the grace period;
   repeatedly, since removing an index frees its children.
2. Blob links: a repository keeps a blob that none of its manifests references only
   while the blob is in its grace period.
3. Blobs that no manifest references, unused for the grace period: first marked
   ``deleting`` and unlinked everywhere (one transaction; from then on no request
   sees them), then their content is removed from the store and their rows go
   (a second one). A crash in between leaves marked rows, which the next run
   finishes, and never a visible blob without content.
4. Upload sessions abandoned for ``jobs.upload_max_idle_hours``, with their data.

Why nothing in use is lost. A blob's ``used_at`` is refreshed by every upload, mount,
and HEAD of it while unreferenced (a client about to push a manifest that needs it);
collection takes only blobs unused for the grace period. A manifest PUT share-locks
the rows it builds on (blobs, their links, child manifests, its subject, itself)
until it commits (artifacts/services.py); collection locks rows exclusively, skipping
any that are locked, and then re-checks in a new statement, which sees every commit
that came before. So a PUT either committed first, and its references keep the rows,
or it finds them gone (or marked) and is refused, never acknowledged. An upload
commits a blob's content while holding its row (blobs/uploads.py), so collection
never removes content that an upload has just put back.

A dry run plans the same way and removes nothing: what it reports is what a run
would remove now.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import BindParameter, bindparam, delete, exists, or_, select, true, tuple_, update
from sqlalchemy.orm import aliased

from dockyard.artifacts.models import Manifest, ManifestReference, Tag
from dockyard.blobs.models import Blob, RepositoryBlob
from dockyard.blobs.purge import UploadPurge
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.jobs.handlers import JobContext
from dockyard.projects.models import Repository
from dockyard.projects.quotas import settle
from dockyard.storage import BlobStore

T = TypeVar("T")

GC_RUN = "gc.run"
# The grace period's bound: a year, in minutes.
MAX_GRACE_MINUTES = 525600
# Rows per transaction: small enough that a batch holds SQLite's write lock (and, on
# PostgreSQL, its rows) for milliseconds, so that pushes go on between batches.
_MANIFEST_BATCH = 200
_BLOB_BATCH = 200
_LINK_BATCH = 500
_COUNTS = ("artifacts_deleted", "links_removed", "blobs_deleted", "uploads_purged")
# Store deletions of one batch in flight at once (S3 round trips overlap).
_DELETE_CONCURRENCY = 16

_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_DIGESTS: BindParameter[list[str]] = bindparam("digests", expanding=True)

# Plan queries: the whole graph, read once per run.
_MANIFESTS = select(
    Manifest.id,
    Manifest.repository_id,
    Manifest.digest,
    Manifest.subject_digest,
    Manifest.created_at,
    exists().where(Tag.manifest_id == Manifest.id).label("tagged"),
)
_REFERENCES = select(
    Manifest.repository_id, ManifestReference.digest, ManifestReference.kind, Manifest.id
).join(Manifest, Manifest.id == ManifestReference.manifest_id)
_BLOBS = select(Blob.digest, Blob.size, Blob.used_at, Blob.deleting)
_LINKS = select(RepositoryBlob.repository_id, RepositoryBlob.digest)

# Locks, taken before the re-check. SKIP LOCKED: a row that a push holds is in use,
# so it is left for the next run rather than waited for (collection never waits on a
# request, so the two cannot deadlock). On SQLite, which has one writer at a time,
# the clauses compile to nothing and the write transaction is the lock.
_LOCK_MANIFESTS = (
    select(Manifest.id)
    .where(Manifest.id.in_(_IDS))
    .order_by(Manifest.id)
    .with_for_update(skip_locked=True)
)
_LOCK_BLOBS = (
    select(Blob.digest)
    .where(Blob.digest.in_(_DIGESTS))
    .order_by(Blob.digest)
    .with_for_update(skip_locked=True)
)

# The re-checks: the plan's rules, against the database as it is now.
_parent = aliased(Manifest)
_other = aliased(Manifest)
_holder = aliased(Manifest)
_DELETE_UNTAGGED = (
    delete(Manifest)
    .where(
        Manifest.id.in_(_IDS),
        Manifest.created_at < bindparam("cutoff"),
        ~exists().where(Tag.manifest_id == Manifest.id),
        ~exists()
        .where(ManifestReference.digest == Manifest.digest)
        .where(ManifestReference.kind == "manifest")
        .where(_parent.id == ManifestReference.manifest_id)
        .where(_parent.repository_id == Manifest.repository_id),
        ~exists()
        .where(_other.repository_id == Manifest.repository_id)
        .where(_other.subject_digest == Manifest.digest),
        or_(
            Manifest.subject_digest.is_(None),
            ~exists()
            .where(_other.repository_id == Manifest.repository_id)
            .where(_other.digest == Manifest.subject_digest),
        ),
    )
    .returning(Manifest.repository_id)
)
_UNREFERENCED = ~exists().where(ManifestReference.digest == Blob.digest)
_MARK_BLOBS = (
    update(Blob)
    .where(
        Blob.digest.in_(_DIGESTS),
        or_(Blob.deleting, (Blob.used_at < bindparam("cutoff")) & _UNREFERENCED),
    )
    .values(deleting=true())
    .returning(Blob.digest)
)
_UNLINK_MARKED = (
    delete(RepositoryBlob)
    .where(RepositoryBlob.digest.in_(_DIGESTS))
    .returning(RepositoryBlob.repository_id, RepositoryBlob.digest)
)
_MARKED = (
    select(Blob.digest, Blob.size)
    .where(Blob.digest.in_(_DIGESTS), Blob.deleting)
    .order_by(Blob.digest)
    .with_for_update(skip_locked=True)
)
_DROP_MARKED = delete(Blob).where(Blob.digest.in_(_DIGESTS), Blob.deleting)
_UNLINK_UNUSED = (
    delete(RepositoryBlob)
    .where(
        tuple_(RepositoryBlob.repository_id, RepositoryBlob.digest).in_(
            bindparam("pairs", expanding=True)
        ),
        ~exists()
        .where(ManifestReference.digest == RepositoryBlob.digest)
        .where(_holder.id == ManifestReference.manifest_id)
        .where(_holder.repository_id == RepositoryBlob.repository_id),
        exists()
        .where(Blob.digest == RepositoryBlob.digest)
        .where(Blob.used_at < bindparam("cutoff"))
        .where(Blob.deleting.is_(False)),
    )
    .returning(RepositoryBlob.repository_id, RepositoryBlob.digest)
)
_PROJECTS = select(Repository.id, Repository.project_id).where(
    Repository.id.in_(bindparam("repositories", expanding=True))
)


@dataclass(frozen=True, slots=True)
class _Artifact:
    id: int
    repository_id: int
    digest: str
    subject: str | None
    created_at: datetime
    tagged: bool


@dataclass(slots=True)
class Plan:
    """What a run removes: artifacts in waves (each frees the next), links, blobs."""

    artifact_waves: list[list[int]]
    links: list[tuple[int, str]]
    blobs: dict[str, int]  # digest -> size

    @property
    def artifacts(self) -> int:
        return sum(len(wave) for wave in self.artifact_waves)


def untagged_waves(
    artifacts: Sequence[_Artifact],
    children: Sequence[tuple[int, int, str]],
    cutoff: datetime,
) -> list[list[int]]:
    """The untagged artifacts to delete, wave by wave: an artifact goes once nothing
    that stays lists it (an index) or refers to it (a referrer), and its subject, if
    it has one, is gone. ``children``: (index id, repository id, child digest)."""
    live = {(a.repository_id, a.digest) for a in artifacts}
    parents: Counter[tuple[int, str]] = Counter()
    listed_by: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
    for parent_id, repository_id, digest in children:
        parents[(repository_id, digest)] += 1
        listed_by[parent_id].append((repository_id, digest))
    referrers: Counter[tuple[int, str]] = Counter(
        (a.repository_id, a.subject) for a in artifacts if a.subject is not None
    )
    candidates = {a.id: a for a in artifacts if not a.tagged and a.created_at < cutoff}
    waves: list[list[int]] = []
    while True:
        wave = [
            a
            for a in candidates.values()
            if not parents[(a.repository_id, a.digest)]
            and not referrers[(a.repository_id, a.digest)]
            and (a.subject is None or (a.repository_id, a.subject) not in live)
        ]
        if not wave:
            return waves
        for a in wave:
            del candidates[a.id]
            live.discard((a.repository_id, a.digest))
            for key in listed_by.pop(a.id, ()):
                parents[key] -= 1
            if a.subject is not None:
                referrers[(a.repository_id, a.subject)] -= 1
        waves.append(sorted(a.id for a in wave))


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class GarbageCollector:
    """The ``gc.run`` handler. Payload: ``dry_run``, ``delete_untagged`` (default from
    the settings), ``grace_minutes`` (likewise)."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        uploads: UploadPurge,
        *,
        grace_minutes: float,
        delete_untagged: bool,
    ) -> None:
        self.db = db
        self.store = store
        self.uploads = uploads
        self.grace_minutes = grace_minutes
        self.delete_untagged = delete_untagged

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        started = time.monotonic()
        dry_run = job.flag("dry_run", False)
        untagged = job.flag("delete_untagged", self.delete_untagged)
        grace = job.number("grace_minutes", self.grace_minutes, "minutes", MAX_GRACE_MINUTES)
        cutoff = utcnow() - timedelta(minutes=grace)
        await job.progress(0, None, "planning")
        plan = await self.plan(cutoff, untagged=untagged)
        result: dict[str, Any] = {
            "dry_run": dry_run,
            "delete_untagged": untagged,
            "grace_minutes": grace,
        }
        if dry_run:
            result |= {
                "artifacts_deleted": plan.artifacts,
                "links_removed": len(plan.links),
                "blobs_deleted": len(plan.blobs),
                "bytes_freed": sum(plan.blobs.values()),
                "uploads_purged": await self.uploads.abandoned(self.uploads.max_idle_hours),
            }
        else:
            result |= await self._collect(job, plan, cutoff, untagged=untagged)
        result["seconds"] = round(time.monotonic() - started, 3)
        items = sum(result[key] for key in _COUNTS)
        await job.progress(items, items, "dry run done" if dry_run else "done")
        return result

    async def plan(self, cutoff: datetime, *, untagged: bool) -> Plan:
        """What a run would remove now."""
        async with self.db.read() as conn:
            artifacts = [_Artifact(*row) for row in await conn.execute(_MANIFESTS)]
            references = (await conn.execute(_REFERENCES)).all()
            blobs = (await conn.execute(_BLOBS)).all()
            links = (await conn.execute(_LINKS)).all()
        waves: list[list[int]] = []
        if untagged:
            children = [(m, r, d) for r, d, kind, m in references if kind == "manifest"]
            waves = untagged_waves(artifacts, children, cutoff)
        gone = {i for wave in waves for i in wave}
        anywhere: set[str] = set()
        here: set[tuple[int, str]] = set()
        for repository_id, digest, _kind, manifest_id in references:
            if manifest_id not in gone:
                anywhere.add(digest)
                here.add((repository_id, digest))
        doomed: dict[str, int] = {}
        unused: set[str] = set()
        for digest, size, used_at, deleting in blobs:
            if deleting or (digest not in anywhere and used_at < cutoff):
                doomed[digest] = int(size)
            elif used_at < cutoff:
                unused.add(digest)
        stale = sorted(
            (digest, repository_id)
            for repository_id, digest in links
            if digest in unused and (repository_id, digest) not in here
        )
        return Plan(waves, [(r, d) for d, r in stale], dict(sorted(doomed.items())))

    async def _collect(
        self, job: JobContext, plan: Plan, cutoff: datetime, *, untagged: bool
    ) -> dict[str, Any]:
        artifacts = 0
        if untagged:
            total = plan.artifacts
            for wave in plan.artifact_waves:
                for ids in _batches(wave, _MANIFEST_BATCH):
                    artifacts += await self._delete_artifacts(ids, cutoff)
                    await job.progress(
                        artifacts, total, f"deleted {artifacts} of {total} untagged artifacts"
                    )
            # Their references are gone now: plan the blobs again, from what is left.
            plan = await self.plan(cutoff, untagged=False)
        links = 0
        for pairs in _batches(plan.links, _LINK_BATCH):
            links += await self._unlink(pairs, cutoff)
            await job.progress(links, len(plan.links), f"removed {links} unused blob links")
        blobs = freed = 0
        digests = list(plan.blobs)
        for some in _batches(digests, _BLOB_BATCH):
            count, size = await self._delete_blobs(some, cutoff)
            blobs += count
            freed += size
            await job.progress(
                blobs, len(digests), f"deleted {blobs} of {len(digests)} blobs, {freed} bytes"
            )
        uploads = await self.uploads.purge(self.uploads.max_idle_hours, job.progress)
        return {
            "artifacts_deleted": artifacts,
            "links_removed": links,
            "blobs_deleted": blobs,
            "bytes_freed": freed,
            "uploads_purged": uploads,
        }

    async def _delete_artifacts(self, ids: Sequence[int], cutoff: datetime) -> int:
        async with self.db.write() as conn:
            locked = list((await conn.scalars(_LOCK_MANIFESTS, {"ids": list(ids)})).all())
            if not locked:
                return 0
            deleted = (
                await conn.scalars(_DELETE_UNTAGGED, {"ids": locked, "cutoff": cutoff})
            ).all()
            await _settle(conn, artifacts=deleted)
            return len(deleted)

    async def _unlink(self, pairs: Sequence[tuple[int, str]], cutoff: datetime) -> int:
        async with self.db.write() as conn:
            digests = sorted({digest for _, digest in pairs})
            locked = set((await conn.scalars(_LOCK_BLOBS, {"digests": digests})).all())
            held = [pair for pair in pairs if pair[1] in locked]
            if not held:
                return 0
            unlinked = (await conn.execute(_UNLINK_UNUSED, {"pairs": held, "cutoff": cutoff})).all()
            await _settle(conn, links=[(r, d) for r, d in unlinked])
            return len(unlinked)

    async def _delete_blobs(self, digests: Sequence[str], cutoff: datetime) -> tuple[int, int]:
        """Mark, unlink, then remove content and rows; how many blobs and bytes went."""
        async with self.db.write() as conn:
            locked = list((await conn.scalars(_LOCK_BLOBS, {"digests": list(digests)})).all())
            if not locked:
                return 0, 0
            marked = list(
                (await conn.scalars(_MARK_BLOBS, {"digests": locked, "cutoff": cutoff})).all()
            )
            if marked:
                unlinked = (await conn.execute(_UNLINK_MARKED, {"digests": marked})).all()
                await _settle(conn, links=[(r, d) for r, d in unlinked])
        if not marked:
            return 0, 0
        async with self.db.write() as conn:
            rows = (await conn.execute(_MARKED, {"digests": sorted(marked)})).all()
            if not rows:
                return 0, 0
            limit = asyncio.Semaphore(_DELETE_CONCURRENCY)

            async def remove(digest: str) -> None:
                async with limit:
                    await self.store.delete(digest)

            await asyncio.gather(*(remove(row.digest) for row in rows))
            await conn.execute(_DROP_MARKED, {"digests": [row.digest for row in rows]})
        return len(rows), sum(int(row.size) for row in rows)


async def _settle(
    conn: Conn, *, links: Sequence[tuple[int, str]] = (), artifacts: Sequence[int] = ()
) -> None:
    """Settle the quotas of the projects whose repositories lost these blob links and
    artifacts (a repository id per artifact), in project order, last in the batch."""
    repositories = sorted({r for r, _ in links} | set(artifacts))
    if not repositories:
        return
    rows = await conn.execute(_PROJECTS, {"repositories": repositories})
    project_of = {repository: project for repository, project in rows}
    digests: defaultdict[int, set[str]] = defaultdict(set)
    counts: Counter[int] = Counter()
    for repository, digest in links:
        digests[project_of[repository]].add(digest)
    for repository in artifacts:
        counts[project_of[repository]] += 1
    for project in sorted(set(digests) | set(counts)):
        await settle(conn, project, digests=digests[project], artifacts=-counts[project])
