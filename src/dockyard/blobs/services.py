"""Blobs as a repository sees them: linked blobs, their size, reading, unlinking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from sqlalchemy import bindparam, delete, exists, select

from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.blobs.models import Blob, RepositoryBlob
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.db.statements import insert_ignore
from dockyard.errors import BlobUnknown, Unsupported
from dockyard.projects.models import Repository
from dockyard.projects.services import RepositoryService
from dockyard.storage import BlobStore

# Built once: the blob HEAD path runs it on every layer of every pull.
_LINKED_SIZE = (
    select(Blob.size)
    .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("name"), Blob.digest == bindparam("digest"))
)


class BlobService:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: RepositoryService,
        *,
        redirect_seconds: int | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.repositories = repositories
        # Downloads go to the store's own URLs, valid this long (None: served here).
        self.redirect_seconds = redirect_seconds

    async def size(self, name: str, digest: str) -> int:
        """The size of a blob that repository ``name`` links; BlobUnknown otherwise."""
        async with self.db.read() as conn:
            size = await conn.scalar(_LINKED_SIZE, {"name": name, "digest": digest})
        if size is None:
            raise BlobUnknown(detail={"digest": digest})
        return int(size)

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
    async def record(conn: Conn, repository_id: int, digest: str, size: int) -> None:
        """Record a stored blob and link it to a repository (in ``conn``'s transaction)."""
        await conn.execute(insert_ignore(conn, Blob, ["digest"]), {"digest": digest, "size": size})
        await link(conn, repository_id, [digest])

    async def mount(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of repository ``source`` into ``name``; False when ``source`` lacks it."""
        async with self.db.write() as conn:
            linked = await conn.scalar(
                select(RepositoryBlob.digest)
                .join(Repository, Repository.id == RepositoryBlob.repository_id)
                .where(Repository.name == source, RepositoryBlob.digest == digest)
            )
            if linked is None or await self.store.stat(digest) is None:
                return False
            repository_id = await self.repositories.ensure(conn, name)
            await link(conn, repository_id, [digest])
            return True

    async def unlink(self, name: str, digest: str) -> None:
        """Remove a blob from a repository; the content stays while other repositories link it."""
        async with self.db.write() as conn:
            repository_id = await self.repositories.find(conn, name)
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
            if result.rowcount == 0:
                raise BlobUnknown(detail={"digest": digest})


async def link(conn: Conn, repository_id: int, digests: Iterable[str]) -> None:
    rows = [{"repository_id": repository_id, "digest": d} for d in digests]
    if rows:
        await conn.execute(insert_ignore(conn, RepositoryBlob, ["repository_id", "digest"]), rows)
