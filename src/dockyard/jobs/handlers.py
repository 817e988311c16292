"""What a job handler is, what it is given, and the table of handlers by job kind."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from dockyard.errors import InvalidInput
from dockyard.jobs.queue import Claim, JobInfo, JobQueue, check_kind


class JobCancelled(Exception):
    """Raised inside a handler when its job's cancellation was asked for; the job ends
    as cancelled. Handlers let it propagate (after cleaning up, if they must)."""


class JobContext:
    """A running job as its handler sees it: what to do, and where to report progress.

    A handler must be safe to run twice (a retry after a crash runs it again), so it
    takes ids from the payload and re-checks the state they name; ``job.progress``
    holds what the previous attempt reported, for handlers that resume.
    """

    def __init__(self, queue: JobQueue, claim: Claim) -> None:
        self.job: JobInfo = claim.job
        self.lease = claim.lease
        self._queue = queue
        self._cancel_requested = claim.job.cancel_requested
        # Set by the worker's heartbeat when the reaper took the job back.
        self.lost = False

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def cancel_requested(self) -> bool:
        """Whether cancellation was asked for, as of the last heartbeat or progress."""
        return self._cancel_requested

    def heard(self, cancel_requested: bool) -> None:
        """What the worker's heartbeat learned about cancellation."""
        self._cancel_requested = self._cancel_requested or cancel_requested

    async def progress(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """Record progress (visible to the API at once), and stop here with
        :class:`JobCancelled` if the job's cancellation was asked for."""
        self.heard(await self._queue.progress(self.lease, done, total, message))
        self.check_cancelled()

    def positive(self, key: str, default: float, unit: str, limit: float = 1e6) -> float:
        """The payload's number ``key`` (``default`` when absent), which must be above
        zero and below ``limit``; a bad one fails the job for good (InvalidInput)."""
        value = self.payload.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < limit:
            raise InvalidInput(f"{key} must be a positive number of {unit}")
        return value

    def number(self, key: str, default: float, unit: str, limit: float = 1e6) -> float:
        """The payload's number ``key`` (``default`` when absent), from zero up to
        ``limit``; a bad one fails the job for good (InvalidInput)."""
        value = self.payload.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
            raise InvalidInput(f"{key} must be a number of {unit} from 0 to {limit:g}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """The payload's boolean ``key`` (``default`` when absent)."""
        value = self.payload.get(key, default)
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false")
        return value

    def check_cancelled(self) -> None:
        """Stop here with :class:`JobCancelled` if cancellation was asked for."""
        if self._cancel_requested:
            raise JobCancelled(f"job {self.job.id} was cancelled")


# A handler gets the context and returns a JSON-able result, stored with the job.
Handler = Callable[[JobContext], Coroutine[Any, Any, Any]]


class Handlers:
    """Job kind -> the coroutine that runs it; filled once by the composition root."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if check_kind(kind) in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is registered already")
        self._handlers[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers

    def kinds(self) -> list[str]:
        return sorted(self._handlers)
