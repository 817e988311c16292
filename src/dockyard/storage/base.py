"""The contract every blob storage driver implements.

Content is addressed by digest string. An upload is written under its session
id and becomes visible under its digest only through ``commit_upload``, which
is atomic: a reader sees the whole verified blob or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class BlobStore(Protocol):
    async def start_upload(self, upload_id: str) -> None:
        """Create empty storage for a new upload session."""

    async def write_upload(self, upload_id: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of the upload, dropping anything stored past it."""

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        """Cut the upload back to ``size`` bytes (undo a failed chunk)."""

    def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        """Yield the first ``size`` bytes written to the upload."""

    async def upload_exists(self, upload_id: str) -> bool: ...

    async def commit_upload(self, upload_id: str, digest: str) -> None:
        """Make the upload's content visible as blob ``digest`` and drop the upload."""

    async def delete_upload(self, upload_id: str) -> None: ...

    async def put(self, digest: str, data: bytes) -> None:
        """Store small, already verified content as blob ``digest`` in one step."""

    async def stat(self, digest: str) -> int | None:
        """The stored size of a blob, or None when it is absent."""

    def read(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield bytes ``start`` to ``end`` (exclusive; None: to the end) of a blob."""

    async def delete(self, digest: str) -> None: ...

    async def check(self) -> None:
        """Raise if the store cannot be written to (for the health check)."""
