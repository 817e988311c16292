"""What aborts a row: a request that failed, or a tool that did not measure what was asked."""

from __future__ import annotations


class BenchError(Exception):
    """A row cannot report a figure; the message says why."""


class RequestFailed(BenchError):
    """The registry answered a request with an unexpected status (or not at all)."""

    def __init__(self, method: str, path: str, status: int | str, detail: str = "") -> None:
        self.status = status
        excerpt = detail.strip().replace("\n", " ")[:300]
        super().__init__(f"{method} {path} -> {status}" + (f": {excerpt}" if excerpt else ""))


class TargetFailed(BenchError):
    """A registry process did not start, or died."""
