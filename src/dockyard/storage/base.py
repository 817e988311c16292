"""The contract every blob storage driver implements (tests/storage runs it against each).

Content is addressed by digest string. An upload is written under its session
id and becomes visible under its digest only through ``commit_upload``, which
is atomic: a reader sees the whole verified blob or nothing.

An upload's committed size is kept by the caller (the database), not by the
store: each write starts at the committed size and returns the new one. A
write that fails leaves the upload as it was at its start, whatever it stored
past that point, so a chunk can be retried by this process or by another one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from dockyard.errors import BlobUploadUnknown


class UploadDataLost(BlobUploadUnknown):
    """The store lacks data that an upload session's committed size promises (it was
    purged, or the store lost it): the client must start the upload again."""

    default_message = "the upload's stored data is gone; start the upload again"


class BlobStore(Protocol):
    async def start_upload(self, upload_id: str) -> None:
        """Prepare storage for a new, empty upload session."""

    async def write_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Append ``chunks`` to an upload holding ``offset`` bytes; return its new size."""

    async def seal_upload(self, upload_id: str, size: int) -> None:
        """End the upload at ``size`` bytes: no more writes, and ``read_upload`` works."""

    def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        """Yield the ``size`` bytes of a sealed upload."""

    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        """Make a sealed upload's content visible as blob ``digest`` and drop the upload."""

    async def delete_upload(self, upload_id: str) -> None:
        """Drop an upload and anything stored for it; nothing happens if it is gone."""

    async def put(self, digest: str, data: bytes) -> None:
        """Store small, already verified content as blob ``digest`` in one step."""

    async def stat(self, digest: str) -> int | None:
        """The stored size of a blob, or None when it is absent."""

    async def open(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes] | None:
        """Bytes ``start`` to ``end`` (exclusive; None: to the end) of a blob, or None when
        it is absent. The check happens here, before the caller sends a status line."""

    async def url(self, digest: str, ttl_seconds: int) -> str | None:
        """A URL that serves the blob to clients directly for ``ttl_seconds``, where the
        store can give one; None otherwise."""

    async def delete(self, digest: str) -> None: ...

    async def check(self) -> None:
        """Raise if the store cannot be written to (for the health check)."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
