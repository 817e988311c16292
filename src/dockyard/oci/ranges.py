"""The two range headers of the data plane: ``Range`` on blob GETs, ``Content-Range`` on chunks."""

from __future__ import annotations

import re

from dockyard.errors import BlobUploadInvalid, RangeNotSatisfiable

_BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open byte span ``[start, end)`` a blob GET asks for, or None for all of it.

    Only a single range is honoured; a header this registry does not understand
    (several ranges, another unit) is ignored and the whole blob is sent, as
    RFC 9110 allows. A well-formed range that the blob cannot satisfy is a 416.
    """
    if not header:
        return None
    match = _BYTE_RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(size)
    return start, end


def parse_content_range(header: str) -> tuple[int, int]:
    """``(start, length)`` of a chunk from ``Content-Range: <start>-<end>`` (inclusive end)."""
    match = _CHUNK_RANGE.match(header.strip())
    if not match:
        raise BlobUploadInvalid(
            "Content-Range must be <start>-<end>", detail={"Content-Range": header[:100]}
        )
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise BlobUploadInvalid(
            "Content-Range ends before it starts", detail={"Content-Range": header[:100]}
        )
    return start, end - start + 1
