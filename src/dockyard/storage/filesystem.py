"""Blobs as files: ``<root>/<algorithm>/<first two hex>/<hex>``, uploads in ``<root>/_uploads``.

Writes run in worker threads, beside the hashing of the same bytes in another
one, so the event loop keeps serving while the disk works. Reads of pages
already in the page cache run inline (see ``_cached``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

READ_CHUNK = 4 * 1024 * 1024


class FilesystemBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.uploads = root / "_uploads"
        self.fsync = fsync
        self.uploads.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        algorithm, encoded = digest.split(":", 1)
        return self.root / algorithm / encoded[:2] / encoded

    def _upload_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    async def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    async def write_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        fd = os.open(self._upload_path(upload_id), os.O_WRONLY)
        position = offset
        try:
            async for chunk in chunks:
                await asyncio.to_thread(_pwrite_all, fd, chunk, position)
                position += len(chunk)
            # Drop bytes that an earlier, failed write left past the end. A write that
            # fails cuts nothing: the session's size says what counts, and another
            # request may already have taken the session over.
            os.ftruncate(fd, position)
        finally:
            os.close(fd)
        return position

    async def seal_upload(self, upload_id: str, size: int) -> None:
        path = self._upload_path(upload_id)
        if path.stat().st_size != size:
            os.truncate(path, size)

    async def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        async for chunk in _read_file(self._upload_path(upload_id), 0, size):
            yield chunk

    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        await asyncio.to_thread(self._commit, self._upload_path(upload_id), digest)

    def _commit(self, source: Path, digest: str) -> None:
        target = self._blob_path(digest)
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.fsync:
            fd = os.open(source, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(source, target)
        if self.fsync:
            _fsync_dir(target.parent)

    async def delete_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)

    async def put(self, digest: str, data: bytes) -> None:
        upload_id = uuid.uuid4().hex
        path = self._upload_path(upload_id)
        await asyncio.to_thread(path.write_bytes, data)
        await self.commit_upload(upload_id, digest, len(data))

    async def stat(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    async def open(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes] | None:
        path = self._blob_path(digest)
        if not path.exists():
            return None
        # Opened when the response starts to stream, so that a response never
        # sent holds no descriptor.
        return _read_file(path, start, end)

    async def url(self, digest: str, ttl_seconds: int) -> str | None:
        return None

    async def delete(self, digest: str) -> None:
        self._blob_path(digest).unlink(missing_ok=True)

    async def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"blob root {self.root} is not writable")

    async def close(self) -> None:
        return None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    position = offset
    while view:
        written = os.pwrite(fd, view, position)
        view = view[written:]
        position += written


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


def _cached(fd: int, offset: int) -> bool:
    """Whether the page holding ``offset`` is in the page cache (Linux; False elsewhere).

    A read of cached pages is a memcpy and runs inline: the hand-off to a thread
    for each 4 MiB piece cost a fifth of download throughput (bench: eight
    clients, 1,699 MB/s through threads against 2,313-2,398 MB/s inline). A read
    that would wait for the disk goes to a thread, so the loop never waits on it.
    """
    if _RWF_NOWAIT is None:
        return False
    try:
        return os.preadv(fd, [bytearray(1)], offset, _RWF_NOWAIT) == 1
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: the filesystem cannot tell
        return False


async def _read_file(path: Path, start: int, end: int | None) -> AsyncIterator[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        position = start
        while end is None or position < end:
            want = READ_CHUNK if end is None else min(READ_CHUNK, end - position)
            if _cached(fd, position + want - 1):
                chunk = os.pread(fd, want, position)
            else:
                chunk = await asyncio.to_thread(os.pread, fd, want, position)
            if not chunk:
                break
            position += len(chunk)
            yield chunk
    finally:
        os.close(fd)
