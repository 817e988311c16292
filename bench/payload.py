"""Deterministic random blob bodies, streamed as slices of one shared pool.

A blob of any size is a sequence of 1 MiB cells, each cell a window of a 16 MiB
pool of random bytes at an offset derived from (stream, cell index). The body
is therefore a pure function of (size, stream): the digest can be computed
beforehand by streaming the same cells, the client never holds a whole blob,
and sending a cell is a zero-copy ``memoryview``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

MiB = 1024 * 1024
CELL_BYTES = MiB
_POOL_BYTES = 16 * MiB
_SEED = 20240601


@dataclass(frozen=True)
class Blob:
    """A blob body identified by (size, stream), with its digest computed beforehand."""

    size: int
    stream: int
    digest: str


class BlobSource:
    """Makes blob bodies and remembers their digests, so both targets share the hashing."""

    def __init__(self, seed: int = _SEED) -> None:
        self._pool = memoryview(random.Random(seed).randbytes(_POOL_BYTES))
        self._digests: dict[tuple[int, int], str] = {}

    def blob(self, size: int, stream: int) -> Blob:
        """The blob (size, stream); hashes its body on first use."""
        key = (size, stream)
        if key not in self._digests:
            sha = hashlib.sha256()
            for cell in self.cells(size, stream):
                sha.update(cell)
            self._digests[key] = "sha256:" + sha.hexdigest()
        return Blob(size, stream, self._digests[key])

    def cells(
        self, size: int, stream: int, start: int = 0, stop: int | None = None
    ) -> Iterator[memoryview]:
        """Body bytes [start, stop) as memoryviews of at most one cell; start is cell aligned."""
        if start % CELL_BYTES:
            raise ValueError("start must be a multiple of the cell size")
        end = size if stop is None else min(stop, size)
        position = start
        while position < end:
            index = position // CELL_BYTES
            length = min(CELL_BYTES, end - position)
            offset = _offset(stream, index)
            yield self._pool[offset : offset + length]
            position += length

    def body(self, blob: Blob) -> Iterator[memoryview]:
        """The whole body of ``blob``."""
        return self.cells(blob.size, blob.stream)


def _offset(stream: int, index: int) -> int:
    # splitmix64 of (stream, index): distinct cells land on unrelated pool windows.
    z = (stream * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return z % (_POOL_BYTES - CELL_BYTES + 1)
