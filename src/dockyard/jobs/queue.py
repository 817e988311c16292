"""The job queue: one table that every process of the registry enqueues into and works from.

A worker claims a due job and holds it by a lease: the row names the worker and
the attempt, and the worker's heartbeat keeps ``heartbeat_at`` fresh. Every
later write of the worker (heartbeat, progress, success, failure) is
conditional on the lease, so once the reaper has taken a job back from a worker
that stopped beating (killed, partitioned, stuck), that worker can no longer
touch it, and the retry by another worker is the only run that counts.

Claiming is ``SELECT .. FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that
concurrent claimers pass over each other's rows instead of queueing on them. On
SQLite there are no row locks and none are needed: ``db.write()`` is
``BEGIN IMMEDIATE``, which admits one writer at a time across processes, so the
same select and update inside it can only ever hand a job to one worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    String,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.jobs.models import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    Job,
    JobStatus,
)
from dockyard.settings import JobSettings

# Job kinds name a domain and an action: "uploads.purge", "gc.run", "scan.artifact".
KIND = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
KIND_MAX_LENGTH = 64
# Payloads and results are small descriptions of work (ids, options), not data.
JSON_MAX_BYTES = 64 * 1024
_ERROR_MAX_CHARS = 8 * 1024
_MESSAGE_MAX_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int | None
    message: str


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    claimed_by: str | None
    heartbeat_at: datetime | None
    progress: Progress
    result: Any
    error: str | None
    cancel_requested: bool
    schedule_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's hold on a running job: good while the row names this worker and attempt."""

    job_id: int
    worker: str
    attempt: int

    def parameters(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "worker": self.worker, "attempt": self.attempt}


@dataclass(frozen=True, slots=True)
class Claim:
    job: JobInfo
    lease: Lease


class LeaseLost(Exception):
    """The job is no longer this worker's: the reaper took it back, or it was finished."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"job {lease.job_id} (attempt {lease.attempt}) is no longer held")
        self.lease = lease


# Built once: these run on every poll and every heartbeat of every worker.
_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.status,
    Job.attempts,
    Job.max_attempts,
    Job.run_after,
    Job.claimed_by,
    Job.heartbeat_at,
    Job.progress_done,
    Job.progress_total,
    Job.progress_message,
    Job.result,
    Job.error,
    Job.cancel_requested,
    Job.schedule_id,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
)
_GET = select(*_COLUMNS).where(Job.id == bindparam("job_id"))
_DUE: tuple[ColumnElement[bool], ...] = (Job.status == QUEUED, Job.run_after <= bindparam("now"))
_ANY_DUE = select(Job.id).where(*_DUE).limit(1)
# FOR UPDATE SKIP LOCKED renders on PostgreSQL only; SQLite's write transaction is exclusive.
_CLAIMABLE = (
    select(Job.id)
    .where(*_DUE)
    .order_by(Job.run_after, Job.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)
# The same for one job, by id (a command that runs the job it enqueued).
_CLAIMABLE_JOB = (
    select(Job.id).where(*_DUE, Job.id == bindparam("job_id")).with_for_update(skip_locked=True)
)
_START = (
    update(Job)
    .where(Job.id == bindparam("job_id"))
    .values(
        status=RUNNING,
        attempts=Job.attempts + 1,
        claimed_by=bindparam("worker"),
        heartbeat_at=bindparam("now"),
        started_at=bindparam("now"),
    )
    .returning(*_COLUMNS)
)
_HELD: tuple[ColumnElement[bool], ...] = (
    Job.id == bindparam("job_id"),
    Job.status == RUNNING,
    Job.claimed_by == bindparam("worker"),
    Job.attempts == bindparam("attempt"),
)
_BEAT = (
    update(Job).where(*_HELD).values(heartbeat_at=bindparam("now")).returning(Job.cancel_requested)
)
_PROGRESS = (
    update(Job)
    .where(*_HELD)
    .values(
        heartbeat_at=bindparam("now"),
        progress_done=bindparam("done"),
        progress_total=func.coalesce(bindparam("total", type_=BigInteger), Job.progress_total),
        progress_message=func.coalesce(bindparam("message", type_=String), Job.progress_message),
    )
    .returning(Job.cancel_requested)
)
_FINISH = (
    update(Job)
    .where(*_HELD)
    .values(
        status=bindparam("new_status"),
        result=bindparam("new_result"),
        # A success keeps the error of the attempt before it, as history.
        error=func.coalesce(bindparam("new_error", type_=Text), Job.error),
        finished_at=bindparam("now"),
    )
)
_LOCK_HELD = (
    select(Job.attempts, Job.max_attempts, Job.cancel_requested).where(*_HELD).with_for_update()
)
_RETRY = (
    update(Job)
    .where(*_HELD)
    .values(
        status=QUEUED,
        run_after=bindparam("run_after"),
        claimed_by=None,
        heartbeat_at=None,
        error=bindparam("new_error"),
    )
)
_LOCK_STATUS = select(Job.status).where(Job.id == bindparam("job_id")).with_for_update()
_CANCEL_QUEUED = (
    update(Job)
    .where(Job.id == bindparam("job_id"))
    .values(status=CANCELLED, finished_at=bindparam("now"))
)
_REQUEST_CANCEL = update(Job).where(Job.id == bindparam("job_id")).values(cancel_requested=True)
# The reaper's three cases of a running job whose worker stopped beating: cancelled
# while it ran, out of attempts, or back to the queue.
_STALE: tuple[ColumnElement[bool], ...] = (
    Job.status == RUNNING,
    Job.heartbeat_at < bindparam("cutoff"),
)
_ANY_STALE = select(Job.id).where(*_STALE).limit(1)
_LOST_WORKER = literal("no heartbeat from worker ", String) + func.coalesce(Job.claimed_by, "?")
_REAP_CANCELLED = (
    update(Job)
    .where(*_STALE, Job.cancel_requested)
    .values(status=CANCELLED, finished_at=bindparam("now"), error=_LOST_WORKER)
)
_REAP_FAILED = (
    update(Job)
    .where(*_STALE, Job.attempts >= Job.max_attempts)
    .values(status=FAILED, finished_at=bindparam("now"), error=_LOST_WORKER)
)
_REAP_REQUEUED = (
    update(Job)
    .where(*_STALE)
    .values(
        status=QUEUED,
        run_after=bindparam("now"),
        claimed_by=None,
        heartbeat_at=None,
        error=_LOST_WORKER,
    )
)


def check_kind(kind: str) -> str:
    if not 1 <= len(kind) <= KIND_MAX_LENGTH or not KIND.match(kind):
        raise InvalidInput(
            f"invalid job kind {kind!r}: lowercase letters and digits, separated by . _ or -, "
            f"at most {KIND_MAX_LENGTH} characters"
        )
    return kind


# The standard library's json rather than orjson: a payload that came as JSON may hold
# integers past 64 bits, which orjson refuses to write and reads back as floats.
def encode_json(value: Any, what: str) -> str:
    """``value`` as JSON text, refused when it is not JSON or too large to be a description."""
    try:
        # ASCII with escapes: a lone surrogate or a NUL in a string reaches no database raw.
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"the {what} is not JSON: {exc}") from None
    if len(encoded) > JSON_MAX_BYTES:
        raise InvalidInput(f"the {what} is larger than {JSON_MAX_BYTES} bytes of JSON")
    return encoded


def decode_json(text: str) -> Any:
    return json.loads(text)


def _clean(text: str, limit: int) -> str:
    """Text any database stores: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text[:limit].replace("\x00", "\ufffd").encode("utf-8", "replace").decode()


def _info(row: Row[Any]) -> JobInfo:
    return JobInfo(
        id=row.id,
        kind=row.kind,
        payload=decode_json(row.payload),
        status=cast(JobStatus, row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        run_after=row.run_after,
        claimed_by=row.claimed_by,
        heartbeat_at=row.heartbeat_at,
        progress=Progress(row.progress_done, row.progress_total, row.progress_message),
        result=decode_json(row.result) if row.result is not None else None,
        error=row.error,
        cancel_requested=row.cancel_requested,
        schedule_id=row.schedule_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class JobQueue:
    def __init__(self, db: Database, settings: JobSettings) -> None:
        self.db = db
        self.settings = settings
        self._random = random.Random()
        # Workers of this process wait on the current event; ``wake`` sets it and starts
        # the next one, so a wake-up is never lost between a worker's poll and its wait.
        self._wakeup = asyncio.Event()

    # Enqueueing

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        run_after: datetime | None = None,
        max_attempts: int | None = None,
    ) -> int:
        """Add a job in a transaction of its own and wake this process's workers; its id."""
        async with self.db.write() as conn:
            job_id = await self.add(
                conn, kind, payload, run_after=run_after, max_attempts=max_attempts
            )
        self.wake()
        return job_id

    async def add(
        self,
        conn: Conn,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        run_after: datetime | None = None,
        max_attempts: int | None = None,
        schedule_id: int | None = None,
    ) -> int:
        """Add a job in ``conn``'s transaction, so that it exists exactly when the change that
        asked for it does; call :meth:`wake` after the commit."""
        attempts = self.settings.max_attempts if max_attempts is None else max_attempts
        if not 1 <= attempts <= 100:
            raise InvalidInput("max_attempts must be between 1 and 100")
        now = utcnow()
        job_id: int = await conn.scalar(
            insert(Job)
            .values(
                kind=check_kind(kind),
                payload=encode_json(payload or {}, "job payload"),
                status=QUEUED,
                max_attempts=attempts,
                run_after=run_after or now,
                schedule_id=schedule_id,
                created_at=now,
            )
            .returning(Job.id)
        )
        return job_id

    def wake(self) -> None:
        """Tell this process's idle workers that a job may be due now."""
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def wakeup(self) -> asyncio.Event:
        """The event the next :meth:`wake` sets: take it before polling, then wait on it."""
        return self._wakeup

    # Reading

    async def get(self, job_id: int) -> JobInfo:
        async with self.db.read() as conn:
            row = (await conn.execute(_GET, {"job_id": job_id})).first()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return _info(row)

    async def search(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        schedule_id: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[JobInfo], int]:
        """Jobs newest first, filtered; and how many match."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"unknown job status {status!r}: one of {', '.join(STATUSES)}")
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(Job.status == status)
        if kind is not None:
            conditions.append(Job.kind == kind)
        if schedule_id is not None:
            conditions.append(Job.schedule_id == schedule_id)
        query = select(*_COLUMNS).where(*conditions).order_by(Job.id.desc())
        async with self.db.read() as conn:
            rows = (await conn.execute(query.offset(offset).limit(limit))).all()
            total = await conn.scalar(select(func.count()).select_from(Job).where(*conditions))
        return [_info(row) for row in rows], int(total or 0)

    # Cancelling

    async def cancel(self, job_id: int) -> JobInfo:
        """Cancel a queued job at once; ask a running one's handler to stop.

        Cancelling a cancelled job changes nothing; a job that has succeeded or failed
        cannot be cancelled (Conflict).
        """
        async with self.db.write() as conn:
            # The row lock orders this after a worker's claim or finish of the same job.
            status = await conn.scalar(_LOCK_STATUS, {"job_id": job_id})
            if status is None:
                raise NotFound(f"job {job_id} not found")
            if status == QUEUED:
                await conn.execute(_CANCEL_QUEUED, {"job_id": job_id, "now": utcnow()})
            elif status == RUNNING:
                await conn.execute(_REQUEST_CANCEL, {"job_id": job_id})
            elif status != CANCELLED:
                raise Conflict(f"job {job_id} has {status}; only queued or running jobs stop")
        return await self.get(job_id)

    # A worker's side

    async def claim(self, worker: str, job_id: int | None = None) -> Claim | None:
        """Take the oldest due job (or job ``job_id``) for ``worker``, or None when no
        job is due (or that one is not, or is another worker's)."""
        now = utcnow()
        if job_id is None:
            # A read first: an idle poll must not take SQLite's write lock from pushes.
            async with self.db.read() as conn:
                if await conn.scalar(_ANY_DUE, {"now": now}) is None:
                    return None
        async with self.db.write() as conn:
            if job_id is None:
                job_id = await conn.scalar(_CLAIMABLE, {"now": now})
            else:
                job_id = await conn.scalar(_CLAIMABLE_JOB, {"now": now, "job_id": job_id})
            if job_id is None:
                return None
            row = (
                await conn.execute(_START, {"job_id": job_id, "worker": worker, "now": now})
            ).one()
        job = _info(row)
        return Claim(job, Lease(job.id, worker, job.attempts))

    async def heartbeat(self, lease: Lease) -> bool:
        """Keep the lease; whether the job's cancellation was asked for."""
        async with self.db.write() as conn:
            requested = await conn.scalar(_BEAT, {**lease.parameters(), "now": utcnow()})
        if requested is None:
            raise LeaseLost(lease)
        return bool(requested)

    async def progress(
        self, lease: Lease, done: int, total: int | None = None, message: str | None = None
    ) -> bool:
        """Record how far the job got (None keeps the last total or message) and keep the
        lease; whether the job's cancellation was asked for."""
        async with self.db.write() as conn:
            requested = await conn.scalar(
                _PROGRESS,
                {
                    **lease.parameters(),
                    "now": utcnow(),
                    "done": done,
                    "total": total,
                    "message": _clean(message, _MESSAGE_MAX_CHARS) if message is not None else None,
                },
            )
        if requested is None:
            raise LeaseLost(lease)
        return bool(requested)

    async def succeed(self, lease: Lease, result: Any = None) -> None:
        await self._finish(lease, SUCCEEDED, result=encode_json(result, "job result"))

    async def cancelled(self, lease: Lease, message: str = "cancelled while running") -> None:
        """The handler stopped because cancellation was asked for."""
        await self._finish(lease, CANCELLED, error=_clean(message, _ERROR_MAX_CHARS))

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> str:
        """Record a failed attempt: back to the queue after a back-off while attempts are
        left (and ``retry``, and nobody asked to cancel), else failed for good. The new
        status."""
        error = _clean(error, _ERROR_MAX_CHARS)
        async with self.db.write() as conn:
            row = (await conn.execute(_LOCK_HELD, lease.parameters())).first()
            if row is None:
                raise LeaseLost(lease)
            if retry and not row.cancel_requested and row.attempts < row.max_attempts:
                run_after = utcnow() + timedelta(seconds=self.backoff(row.attempts))
                await conn.execute(
                    _RETRY, {**lease.parameters(), "run_after": run_after, "new_error": error}
                )
                return QUEUED
            await self._finish_in(conn, lease, FAILED, error=error)
            return FAILED

    def backoff(self, attempt: int) -> float:
        """Seconds before the retry that follows failed ``attempt`` (1, 2, ...).

        Exponential, capped, with "equal jitter": half of the step is fixed, half is
        random, so that jobs that failed together (an outage) do not retry in lockstep.
        """
        step = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * (1 << min(max(attempt - 1, 0), 32)),
        )
        return step / 2 + self._random.uniform(0, step / 2)

    async def reap(self) -> int:
        """Take back running jobs whose heartbeat is older than the lease: retried when
        attempts are left, else failed (cancelled when cancellation was asked for). How
        many jobs were taken back.

        Safe on every replica at once: each UPDATE re-checks the row it waited for.
        """
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.lease_seconds)
        async with self.db.read() as conn:
            if await conn.scalar(_ANY_STALE, {"cutoff": cutoff}) is None:
                return 0
        parameters = {"cutoff": cutoff, "now": now}
        async with self.db.write() as conn:
            taken = 0
            for statement in (_REAP_CANCELLED, _REAP_FAILED, _REAP_REQUEUED):
                taken += (await conn.execute(statement, parameters)).rowcount
        self.wake()
        return taken

    async def _finish(
        self, lease: Lease, status: str, *, result: str | None = None, error: str | None = None
    ) -> None:
        async with self.db.write() as conn:
            await self._finish_in(conn, lease, status, result=result, error=error)

    async def _finish_in(
        self,
        conn: Conn,
        lease: Lease,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        finished = await conn.execute(
            _FINISH,
            {
                **lease.parameters(),
                "now": utcnow(),
                "new_status": status,
                "new_result": result,
                "new_error": error,
            },
        )
        if finished.rowcount != 1:
            raise LeaseLost(lease)
