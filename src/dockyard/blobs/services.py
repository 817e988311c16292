"""Blobs as a repository sees them: linked blobs, their size, reading, unlinking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from datetime import timedelta

from sqlalchemy import bindparam, delete, exists, select, update

from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.blobs.models import Blob, RepositoryBlob
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.db.statements import insert_ignore, upsert
from dockyard.errors import BlobUnknown, Unsupported
from dockyard.projects.models import Repository
from dockyard.projects.quotas import QuotaExceeded, QuotaService, settle_repository
from dockyard.projects.services import RepositoryService
from dockyard.storage import BlobStore

# Built once: the blob HEAD path runs it on every layer of every pull.
_LINKED_SIZE = (
    select(
        Blob.size,
        Blob.used_at,
        exists().where(ManifestReference.digest == Blob.digest).label("referenced"),
    )
    .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("name"), Blob.digest == bindparam("digest"))
)
# A blob that no manifest references is garbage once its grace period is over, unless
# it is used again: a HEAD of it (a client about to push a manifest that needs it and
# skipping the upload), a mount, an upload. The use is recorded under the row's lock
# (UPDATE), which garbage collection takes too, and never on a blob it is removing.
# A HEAD records it at most once a second (TOUCH_EVERY): clients asking about the same
# blob at once cost reads, not one write each.
TOUCH_EVERY = timedelta(seconds=1)
_USE = (
    update(Blob)
    .where(Blob.digest == bindparam("blob"), Blob.deleting.is_(False))
    .values(used_at=bindparam("now"))
    .returning(Blob.size)
)
_SOURCE_LINK = (
    select(RepositoryBlob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("source"), RepositoryBlob.digest == bindparam("blob"))
    .exists()
)
_MOUNTABLE = _USE.where(_SOURCE_LINK)


class BlobService:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: RepositoryService,
        quotas: QuotaService,
        *,
        redirect_seconds: int | None = None,
    ) -> None:
        self.db = db
        self.quotas = quotas
        self.store = store
        self.repositories = repositories
        # Downloads go to the store's own URLs, valid this long (None: served here).
        self.redirect_seconds = redirect_seconds

    async def size(self, name: str, digest: str) -> int:
        """The size of a blob that repository ``name`` links; BlobUnknown otherwise."""
        async with self.db.read() as conn:
            row = (await conn.execute(_LINKED_SIZE, {"name": name, "digest": digest})).first()
        if row is None:
            raise BlobUnknown(detail={"digest": digest})
        now = utcnow()
        if not row.referenced and row.used_at < now - TOUCH_EVERY:
            async with self.db.write() as conn:
                if await conn.scalar(_USE, {"blob": digest, "now": now}) is None:
                    raise BlobUnknown(detail={"digest": digest})
        return int(row.size)

    async def open(self, digest: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of a blob, checked to be in storage before headers go out."""
        chunks = await self.store.open(digest, start, end)
        if chunks is None:
            raise BlobUnknown(
                "the blob's content is missing from storage", detail={"digest": digest}
            )
        return chunks

    async def redirect(self, digest: str) -> str | None:
        """Where clients should download a blob from instead, if the store serves it."""
        if self.redirect_seconds is None:
            return None
        return await self.store.url(digest, self.redirect_seconds)

    @staticmethod
    async def record(conn: Conn, repository_id: int, digest: str, size: int) -> bool:
        """Record a blob and link it to a repository, in ``conn``'s transaction; whether
        its row is new.

        The row stays locked until the transaction ends, so garbage collection cannot
        remove the blob's content meanwhile: commit content to the store after this,
        in the same transaction. Content stored before it may have been collected
        just before, but only when the row is new: then check that it is still there.
        """
        now = utcnow()
        created = await conn.scalar(
            upsert(conn, Blob, ["digest"], ["used_at", "deleting"], returning=["created_at"]),
            {"digest": digest, "size": size, "created_at": now, "used_at": now, "deleting": False},
        )
        await link(conn, repository_id, [digest])
        return bool(created == now)

    async def settle(self, conn: Conn, repository_id: int, digest: str, new: bool) -> None:
        """Count a blob just recorded in its project's usage, last in the transaction; if
        that exceeds the quota (QuotaExceeded), its content goes again when the row is
        new: the refused upload leaves nothing behind."""
        try:
            await settle_repository(conn, repository_id, digests=[digest])
        except QuotaExceeded:
            if new:
                await self.store.delete(digest)
            raise

    async def mount(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of repository ``source`` into ``name``; False when ``source`` lacks it."""
        async with self.quotas.events(), self.db.write() as conn:
            size = await conn.scalar(
                _MOUNTABLE, {"blob": digest, "source": source, "now": utcnow()}
            )
            if size is None or await self.store.stat(digest) is None:
                return False
            repository_id = await self.repositories.ensure(conn, name)
            await link(conn, repository_id, [digest])
            await settle_repository(conn, repository_id, digests=[digest])
            return True

    async def unlink(self, name: str, digest: str) -> None:
        """Remove a blob from a repository; the content stays while other repositories link it."""
        async with self.db.write() as conn:
            repository_id = await self.repositories.find(conn, name)
            # Locked first, then checked: a manifest PUT holds the link it needs (share
            # lock) until it commits, so the check below sees its references.
            await conn.execute(
                select(RepositoryBlob.digest)
                .where(
                    RepositoryBlob.repository_id == repository_id,
                    RepositoryBlob.digest == digest,
                )
                .with_for_update()
            )
            in_use = await conn.scalar(
                select(
                    exists()
                    .where(ManifestReference.digest == digest)
                    .where(ManifestReference.manifest_id == Manifest.id)
                    .where(Manifest.repository_id == repository_id)
                )
            )
            if in_use:
                raise Unsupported(
                    "the blob is referenced by a manifest of this repository; "
                    "delete the manifest first",
                    detail={"digest": digest},
                )
            result = await conn.execute(
                delete(RepositoryBlob).where(
                    RepositoryBlob.repository_id == repository_id,
                    RepositoryBlob.digest == digest,
                )
            )
            if repository_id is None or result.rowcount == 0:
                raise BlobUnknown(detail={"digest": digest})
            await settle_repository(conn, repository_id, digests=[digest])


async def link(conn: Conn, repository_id: int, digests: Iterable[str]) -> None:
    rows = [{"repository_id": repository_id, "digest": d} for d in digests]
    if rows:
        await conn.execute(insert_ignore(conn, RepositoryBlob, ["repository_id", "digest"]), rows)


# Blobs that a manifest PUT (or a copy) builds on are held until it commits: their rows
# first, then their links, each in digest order (garbage collection locks blob rows
# before links too, so the two never wait on each other in a cycle). A statement each:
# collection may remove a link without changing its blob row, which a PostgreSQL lock
# wait on the row alone would not notice.
_HELD_BLOBS = (
    select(Blob.digest, Blob.size)
    .where(Blob.digest.in_(bindparam("digests", expanding=True)), Blob.deleting.is_(False))
    .order_by(Blob.digest)
    .with_for_update(read=True, key_share=True)
)
_HELD_LINKS = (
    select(RepositoryBlob.digest)
    .where(
        RepositoryBlob.repository_id == bindparam("repository_id"),
        RepositoryBlob.digest.in_(bindparam("digests", expanding=True)),
    )
    .order_by(RepositoryBlob.digest)
    .with_for_update(read=True, key_share=True)
)


async def hold_blobs(conn: Conn, repository_id: int, digests: Collection[str]) -> dict[str, int]:
    """Of ``digests``, the blobs that repository ``repository_id`` links, with their sizes,
    share-locked until ``conn``'s transaction ends so that garbage collection leaves
    them (and their links there) alone."""
    sizes = await hold_blob_rows(conn, digests)
    if not sizes:
        return sizes
    linked = set(
        (
            await conn.scalars(
                _HELD_LINKS, {"repository_id": repository_id, "digests": list(sizes)}
            )
        ).all()
    )
    return {digest: size for digest, size in sizes.items() if digest in linked}


async def hold_blob_rows(conn: Conn, digests: Collection[str]) -> dict[str, int]:
    """Of ``digests``, the blobs that exist and are not being collected, with their sizes,
    share-locked until ``conn``'s transaction ends (link them to a repository then)."""
    if not digests:
        return {}
    rows = await conn.execute(_HELD_BLOBS, {"digests": list(digests)})
    return {digest: int(size) for digest, size in rows}
