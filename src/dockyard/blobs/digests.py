"""Digests as the OCI image spec defines them: ``algorithm:encoded``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from dockyard.errors import DigestInvalid

# The grammar of descriptor.md; only registered algorithms are accepted.
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_ENCODED = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}
DEFAULT_ALGORITHM = "sha256"
# Every digest :meth:`Digest.parse` accepts, as one pattern (for the API's schemas).
DIGEST_PATTERN = "|".join(f"{name}:{encoded.pattern[1:-1]}" for name, encoded in _ENCODED.items())


class Hasher(Protocol):
    @property
    def name(self) -> str: ...

    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate a digest; raise DigestInvalid with the reason."""
        if not _GRAMMAR.match(text):
            raise DigestInvalid("invalid digest format", detail={"digest": text[:200]})
        algorithm, encoded = text.split(":", 1)
        pattern = _ENCODED.get(algorithm)
        if pattern is None:
            raise DigestInvalid(
                f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)",
                detail={"digest": text[:200]},
            )
        if not pattern.match(encoded):
            raise DigestInvalid(
                f"invalid {algorithm} digest encoding", detail={"digest": text[:200]}
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> Digest:
        h = new_hasher(algorithm)
        h.update(data)
        return cls(algorithm, h.hexdigest())


def is_digest(reference: str) -> bool:
    """True when a manifest reference is a digest rather than a tag."""
    return ":" in reference


def new_hasher(algorithm: str = DEFAULT_ALGORITHM) -> Hasher:
    if algorithm not in _ENCODED:
        raise DigestInvalid(f"digest algorithm {algorithm!r} is not supported")
    return hashlib.new(algorithm)
