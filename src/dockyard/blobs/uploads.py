"""Upload sessions: monolithic, chunked and streamed blob uploads, verified as they stream.

A session's state (its size) lives in the database and its bytes in the blob
store, so any replica or worker process, or this one after a restart, can
continue it. The running hash is only cached here: when a chunk arrives
where the cache misses (another process took the previous chunk, or this
one restarted), hashing stops for the session and the completing PUT reads
the stored bytes back once. A miss costs one pass over the blob, never one
per chunk.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from dockyard.blobs.digests import DEFAULT_ALGORITHM, Digest, Hasher, new_hasher
from dockyard.blobs.models import UploadSession
from dockyard.blobs.services import BlobService
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    TooManyRequests,
)
from dockyard.projects.models import Repository
from dockyard.projects.quotas import QuotaService
from dockyard.projects.services import RepositoryService
from dockyard.storage import BlobStore

# Bytes gathered before one write to the store: large enough that thread
# hand-offs cost nothing, small enough that memory stays flat.
BATCH_BYTES = 4 * 1024 * 1024
_HASHER_CACHE = 4096
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


# Built once, like every statement on the data plane's paths.
_SESSION = (
    select(UploadSession.repository_id, UploadSession.size)
    .join(Repository, Repository.id == UploadSession.repository_id)
    .where(UploadSession.id == bindparam("id"), Repository.name == bindparam("name"))
)
_OPEN_SESSIONS = (
    select(func.count())
    .select_from(UploadSession)
    .where(UploadSession.repository_id == bindparam("repository_id"))
)
# A request writes a session only while it holds the session's lease, in the
# database, so that two replicas never write the same session at once: the
# second is refused at once instead of overwriting the first one's parts.
_CLAIM = (
    update(UploadSession)
    .where(
        UploadSession.id == bindparam("upload_id"),
        UploadSession.repository_id
        == select(Repository.id).where(Repository.name == bindparam("name")).scalar_subquery(),
        or_(UploadSession.writer.is_(None), UploadSession.lease_until < bindparam("now")),
    )
    .values(writer=bindparam("holder"), lease_until=bindparam("until"))
    .returning(UploadSession.repository_id, UploadSession.size)
)
_RENEW = (
    update(UploadSession)
    .where(UploadSession.id == bindparam("upload_id"), UploadSession.writer == bindparam("holder"))
    .values(lease_until=bindparam("until"))
)
_MOVE_SESSION = (
    update(UploadSession)
    .where(UploadSession.id == bindparam("upload_id"), UploadSession.writer == bindparam("holder"))
    .values(size=bindparam("new_size"), updated_at=bindparam("now"), writer=None, lease_until=None)
)
_RELEASE = (
    update(UploadSession)
    .where(UploadSession.id == bindparam("upload_id"), UploadSession.writer == bindparam("holder"))
    .values(writer=None, lease_until=None)
)


@dataclass(frozen=True, slots=True)
class UploadStatus:
    id: str
    size: int


class UploadService:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: RepositoryService,
        blobs: BlobService,
        quotas: QuotaService,
        *,
        max_sessions: int,
        lease_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.quotas = quotas
        self.max_sessions = max_sessions
        # How long a request may go without a sign of life before another one may
        # take its upload session over.
        self.lease_seconds = lease_seconds
        self.store = store
        self.repositories = repositories
        self.blobs = blobs
        # upload id -> (size, running hash or None once this process missed a chunk)
        self._hashers: OrderedDict[str, tuple[int, Hasher | None]] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self, name: str) -> UploadStatus:
        await self.quotas.check_room(name, 0)
        upload_id = uuid.uuid4().hex
        await self.store.start_upload(upload_id)
        try:
            async with self.db.write() as conn:
                repository_id = await self.repositories.ensure(conn, name)
                open_sessions = await conn.scalar(_OPEN_SESSIONS, {"repository_id": repository_id})
                if open_sessions >= self.max_sessions:
                    raise TooManyRequests(
                        f"the repository has {open_sessions} uploads in progress; "
                        "finish or cancel some first",
                        detail={"limit": self.max_sessions},
                    )
                await conn.execute(
                    insert(UploadSession).values(id=upload_id, repository_id=repository_id, size=0)
                )
        except BaseException:
            await self.store.delete_upload(upload_id)
            raise
        return UploadStatus(upload_id, 0)

    async def status(self, name: str, upload_id: str) -> UploadStatus:
        _, size = await self._session(name, upload_id)
        return UploadStatus(upload_id, size)

    async def append(
        self,
        name: str,
        upload_id: str,
        body: AsyncIterable[bytes],
        *,
        start: int | None = None,
        length: int | None = None,
        declared_length: int | None = None,
    ) -> UploadStatus:
        """Append a chunk; ``start`` and ``length`` come from Content-Range when sent,
        ``declared_length`` from Content-Length."""
        async with self._lock(upload_id), self._lease(name, upload_id) as lease:
            size = lease.size
            if length is not None and declared_length is not None and declared_length != length:
                # Refused before a byte of a body that cannot be right is read.
                raise BlobUploadInvalid(
                    f"Content-Length {declared_length} does not match the Content-Range "
                    f"length {length}"
                )
            if start is not None and start != size:
                raise RangeInvalid(
                    f"chunk starts at {start} but the upload holds {size} bytes", offset=size
                )
            await self.quotas.check_room(name, size + (declared_length or length or 0))
            hasher = self._cached_hasher(upload_id, size, DEFAULT_ALGORITHM)
            new_size = await self._write(upload_id, size, body, hasher, lease)
            if length is not None and new_size - size != length:
                # The session's size stays where it was, so what was stored is ignored.
                raise BlobUploadInvalid(
                    f"Content-Range announced {length} bytes but the body held {new_size - size}"
                )
            async with self.db.write() as conn:
                moved = await conn.execute(
                    _MOVE_SESSION,
                    {
                        "upload_id": upload_id,
                        "holder": lease.writer,
                        "new_size": new_size,
                        "now": utcnow(),
                    },
                )
            if moved.rowcount != 1:
                raise lease.lost(size)
            lease.released = True
            self._remember(upload_id, new_size, hasher)
            return UploadStatus(upload_id, new_size)

    async def complete(
        self, name: str, upload_id: str, digest: Digest, body: AsyncIterable[bytes]
    ) -> None:
        """Append the last chunk (if any), verify the upload against ``digest``, publish it."""
        async with self._lock(upload_id), self._lease(name, upload_id) as lease:
            repository_id, size = lease.repository_id, lease.size
            await self.quotas.check_room(name, size, str(digest))
            hasher = self._cached_hasher(upload_id, size, digest.algorithm)
            size = await self._write(upload_id, size, body, hasher, lease)
            await lease.renew()
            await self.store.seal_upload(upload_id, size)
            if hasher is None:
                hasher = await self._hash_stored(upload_id, size, digest.algorithm)
            if hasher.hexdigest() != digest.encoded:
                await self._drop(upload_id)
                raise DigestInvalid(detail={"digest": str(digest)})
            await lease.renew()
            async with self.quotas.events(), self.db.write() as conn:
                # Recorded first: the row's lock keeps garbage collection away from
                # the content while it is committed.
                new = await self.blobs.record(conn, repository_id, str(digest), size)
                await self.store.commit_upload(upload_id, str(digest), size)
                await conn.execute(delete(UploadSession).where(UploadSession.id == upload_id))
                await self.blobs.settle(conn, repository_id, str(digest), new)
            lease.released = True
            self._forget(upload_id)

    async def upload_whole(
        self,
        name: str,
        digest: Digest,
        body: AsyncIterable[bytes],
        declared_length: int | None = None,
    ) -> None:
        """A monolithic upload (POST with ``?digest=``): no session row, nothing to resume.
        ``declared_length``: the Content-Length, if sent."""
        await self.quotas.check_room(name, declared_length or 0, str(digest))
        hasher = new_hasher(digest.algorithm)
        pieces = _batches(body, hasher)
        first = await anext(pieces, b"")
        second = await anext(pieces, None)
        if second is not None:
            await self._upload_pieces(name, digest, _chain(first, second, pieces), hasher)
            return
        # Small enough for one piece (a config, most manifests' layers): one store write.
        if hasher.hexdigest() != digest.encoded:
            raise DigestInvalid(detail={"digest": str(digest)})
        await self.store.put(str(digest), first)
        async with self.quotas.events(), self.db.write() as conn:
            repository_id = await self.repositories.ensure(conn, name)
            new = await self.blobs.record(conn, repository_id, str(digest), len(first))
            # A new row: garbage collection may have removed the content (with the old
            # row) between the write above and now; the row is locked now.
            if new and await self.store.stat(str(digest)) is None:
                await self.store.put(str(digest), first)
            await self.blobs.settle(conn, repository_id, str(digest), new)

    async def _upload_pieces(
        self, name: str, digest: Digest, pieces: AsyncIterable[bytes], hasher: Hasher
    ) -> None:
        upload_id = uuid.uuid4().hex
        await self.store.start_upload(upload_id)
        try:
            size = await self.store.write_upload(upload_id, 0, pieces)
            await self.store.seal_upload(upload_id, size)
            if hasher.hexdigest() != digest.encoded:
                raise DigestInvalid(detail={"digest": str(digest)})
            async with self.quotas.events(), self.db.write() as conn:
                repository_id = await self.repositories.ensure(conn, name)
                new = await self.blobs.record(conn, repository_id, str(digest), size)
                await self.store.commit_upload(upload_id, str(digest), size)
                await self.blobs.settle(conn, repository_id, str(digest), new)
        except BaseException:
            await self.store.delete_upload(upload_id)
            raise

    async def cancel(self, name: str, upload_id: str) -> None:
        await self._session(name, upload_id)
        await self._drop(upload_id)

    async def _drop(self, upload_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(UploadSession).where(UploadSession.id == upload_id))
        await self.store.delete_upload(upload_id)
        self._forget(upload_id)

    @asynccontextmanager
    async def _lease(self, name: str, upload_id: str) -> AsyncIterator[_Lease]:
        """Hold the session's write lease for the block; BlobUploadUnknown for a session
        that is not there, RangeInvalid while another request holds it."""
        if not _UPLOAD_ID.match(upload_id):
            raise BlobUploadUnknown(detail={"uuid": upload_id[:64]})
        lease = _Lease(self.db, upload_id, uuid.uuid4().hex, self.lease_seconds)
        now = utcnow()
        async with self.db.write() as conn:
            claimed = (
                await conn.execute(
                    _CLAIM,
                    {
                        "upload_id": upload_id,
                        "name": name,
                        "holder": lease.writer,
                        "now": now,
                        "until": lease.until(now),
                    },
                )
            ).first()
        if claimed is None:
            _, size = await self._session(name, upload_id)  # unknown: BlobUploadUnknown
            raise RangeInvalid(
                "another request is writing this upload; retry when it is done", offset=size
            )
        lease.repository_id, lease.size = int(claimed[0]), int(claimed[1])
        try:
            yield lease
        finally:
            if not lease.released:
                # Shielded: a client that went away must not leave the lease to expire.
                await asyncio.shield(lease.release())

    async def _session(self, name: str, upload_id: str) -> tuple[int, int]:
        """(repository id, size) of a session of ``name``; BlobUploadUnknown otherwise."""
        if not _UPLOAD_ID.match(upload_id):
            raise BlobUploadUnknown(detail={"uuid": upload_id[:64]})
        async with self.db.read() as conn:
            row = (await conn.execute(_SESSION, {"id": upload_id, "name": name})).first()
        if row is None:
            raise BlobUploadUnknown(detail={"uuid": upload_id})
        return int(row[0]), int(row[1])

    def _cached_hasher(self, upload_id: str, size: int, algorithm: str) -> Hasher | None:
        """A copy of the running hash of the upload's first ``size`` bytes, if this process has
        it; a new one for an empty upload."""
        if size == 0:
            return new_hasher(algorithm)
        cached = self._hashers.get(upload_id)
        if cached is None or cached[0] != size or cached[1] is None:
            return None
        if cached[1].name != algorithm:
            return None
        return cached[1].copy()

    async def _hash_stored(self, upload_id: str, size: int, algorithm: str) -> Hasher:
        """Hash the upload's stored bytes, which must be exactly ``size`` of them."""
        hasher = new_hasher(algorithm)
        seen = 0
        async for chunk in self.store.read_upload(upload_id, size):
            await asyncio.to_thread(hasher.update, chunk)
            seen += len(chunk)
        if seen != size:
            raise BlobUploadInvalid(
                f"the upload's stored data ends at {seen} bytes, expected {size}; start over"
            )
        return hasher

    async def _write(
        self,
        upload_id: str,
        offset: int,
        body: AsyncIterable[bytes],
        hasher: Hasher | None,
        lease: _Lease,
    ) -> int:
        """Stream ``body`` into the upload at ``offset`` (hashing it when there is a running
        hash), keeping the lease; return the new size. On failure the session stays at
        ``offset``."""
        return await self.store.write_upload(upload_id, offset, _batches(body, hasher, lease.keep))

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    def _remember(self, upload_id: str, size: int, hasher: Hasher | None) -> None:
        self._hashers[upload_id] = (size, hasher)
        self._hashers.move_to_end(upload_id)
        while len(self._hashers) > _HASHER_CACHE:
            self._hashers.popitem(last=False)

    def _forget(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)


async def _batches(
    body: AsyncIterable[bytes],
    hasher: Hasher | None,
    before_piece: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """``body`` in pieces of about BATCH_BYTES, each hashed in a thread while the store
    writes it; the hash of the last piece is done when the iteration ends.
    ``before_piece`` runs before each piece goes to the store."""
    hashing: asyncio.Future[None] | None = None
    pending: list[bytes] = []
    pending_bytes = 0

    async def emit() -> bytes:
        nonlocal hashing
        if before_piece is not None:
            await before_piece()
        piece = b"".join(pending)
        if hasher is not None:
            if hashing is not None:
                await hashing
            hashing = asyncio.ensure_future(asyncio.to_thread(hasher.update, piece))
        return piece

    async for chunk in body:
        if not chunk:
            continue
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= BATCH_BYTES:
            yield await emit()
            pending, pending_bytes = [], 0
    if pending:
        yield await emit()
    if hashing is not None:
        await hashing


async def _chain(*parts: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        if isinstance(part, bytes):
            yield part
        else:
            async for piece in part:
                yield piece


class _Lease:
    """A request's hold on an upload session, renewed while it writes."""

    def __init__(self, db: Database, upload_id: str, writer: str, seconds: float) -> None:
        self.db = db
        self.upload_id = upload_id
        self.writer = writer
        self.seconds = seconds
        self.renewed = time.monotonic()
        self.released = False
        # The session as the claim found it.
        self.repository_id = 0
        self.size = 0

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)

    async def keep(self) -> None:
        """Renew when a third of the lease is gone."""
        if time.monotonic() - self.renewed > self.seconds / 3:
            await self.renew()

    async def renew(self) -> None:
        """Extend the lease, or fail when another request took it over (this one stalled
        past its end): nothing more of this request may reach the store."""
        async with self.db.write() as conn:
            renewed = await conn.execute(
                _RENEW,
                {"upload_id": self.upload_id, "holder": self.writer, "until": self.until(utcnow())},
            )
        if renewed.rowcount != 1:
            raise self.lost(None)
        self.renewed = time.monotonic()

    def lost(self, size: int | None) -> RangeInvalid:
        return RangeInvalid(
            "this request stalled and another one took the upload over", offset=size or 0
        )

    async def release(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(_RELEASE, {"upload_id": self.upload_id, "holder": self.writer})
        self.released = True
