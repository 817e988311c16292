"""The worker loop: claim a due job, run its handler with a heartbeat, record how it ended.

Each of a worker's slots claims and runs one job at a time. An idle slot waits
for a poll interval or for a job enqueued by this process, whichever comes
first. While a handler runs, a heartbeat keeps the job's lease; if the reaper
took the job back meanwhile (this process stalled past the lease), the handler
is stopped, since the job now belongs to another worker.

A handler's exception fails the attempt: the job is retried after a back-off
while attempts are left, except for the domain's errors of the client kind
(InvalidInput, NotFound, ...), which no retry would mend. A job of a kind that
has no handler here fails at once.

On shutdown the slots stop claiming and running handlers get a grace period;
whatever still runs after it is left as it is, and the reaper of any worker
retries it when its lease runs out, as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable

from sqlalchemy.exc import SQLAlchemyError

from dockyard.errors import DockyardError, InvalidInput
from dockyard.jobs.handlers import Handlers, JobCancelled, JobContext
from dockyard.jobs.queue import Claim, JobQueue, LeaseLost
from dockyard.settings import JobSettings

log = logging.getLogger(__name__)

# What a worker survives and logs when the database or a store is away for a while.
_OUTAGES = (SQLAlchemyError, DockyardError, OSError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DockyardError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Worker:
    """Runs jobs of the kinds in ``handlers`` in ``slots`` concurrent tasks."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Handlers,
        settings: JobSettings,
        *,
        slots: int | None = None,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.settings = settings
        self.slots = slots or settings.workers
        # Unique per process and start: a lease names it, so a restarted process with the
        # same pid never mistakes a job of its predecessor for its own.
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def run(self, stopping: asyncio.Event) -> None:
        """Work until ``stopping`` is set; then let running jobs finish within the grace."""
        tasks = [
            asyncio.create_task(self._slot(stopping), name=f"{self.id} slot {n}")
            for n in range(self.slots)
        ]
        tasks.append(asyncio.create_task(self._reap(stopping), name=f"{self.id} reaper"))
        try:
            await stopping.wait()
        finally:
            self.queue.wake()  # idle slots see ``stopping`` now, not at their next poll
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def run_one(self, job_id: int) -> bool:
        """Claim job ``job_id`` and run it here; False when it was not due or another
        worker had it (it runs there, then)."""
        claim = await self.queue.claim(self.id, job_id)
        if claim is None:
            return False
        await self._execute(claim)
        return True

    async def _slot(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            # Taken before the poll, so that a job enqueued during it still wakes us.
            wakeup = self.queue.wakeup()
            claim = None
            try:
                claim = await self.queue.claim(self.id)
            except _OUTAGES as exc:
                log.warning("worker %s could not claim a job: %s", self.id, _describe(exc))
            if claim is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self.settings.poll_seconds)
                continue
            try:
                await self._execute(claim)
            except Exception:
                # A slot outlives any one job; the job, if left running, goes to the reaper.
                log.exception("worker %s failed running job %d", self.id, claim.job.id)

    async def _execute(self, claim: Claim) -> None:
        job, lease = claim.job, claim.lease
        handler = self.handlers.get(job.kind)
        if handler is None:
            known = ", ".join(self.handlers.kinds()) or "none"
            error = f"no handler for job kind {job.kind!r} (this worker runs: {known})"
            await self._settle(claim, self.queue.fail(lease, error, retry=False))
            return
        context = JobContext(self.queue, claim)
        running = asyncio.create_task(handler(context), name=f"job {job.id} ({job.kind})")
        beating = asyncio.create_task(self._beat(context, running))
        outcome: Awaitable[object]
        try:
            result = await running
        except JobCancelled:
            outcome = self.queue.cancelled(lease)
        except LeaseLost:
            log.warning("job %d was taken back from worker %s", job.id, self.id)
            return
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this worker stops, past its grace: the reaper retries the job
            if context.lost:
                return  # the heartbeat stopped the handler: the job is another worker's now
            outcome = self.queue.fail(lease, "the handler was cancelled")
        except Exception as exc:
            # A failure of the handler's own code is an attempt that failed, retried;
            # but a domain error of the client kind (bad payload, gone artifact) is final.
            log.warning(
                "job %d (%s) attempt %d failed: %s", job.id, job.kind, lease.attempt, _describe(exc)
            )
            final = isinstance(exc, DockyardError) and exc.status < 500
            outcome = self.queue.fail(lease, _describe(exc), retry=not final)
        else:
            outcome = self._succeed(claim, result)
        finally:
            beating.cancel()
        await self._settle(claim, outcome)

    async def _succeed(self, claim: Claim, result: object) -> None:
        try:
            await self.queue.succeed(claim.lease, result)
        except InvalidInput as exc:  # the result is not JSON: a bug that a retry repeats
            await self.queue.fail(claim.lease, exc.message, retry=False)

    async def _settle(self, claim: Claim, outcome: Awaitable[object]) -> None:
        """Record how the attempt ended. If that fails, the job stays running without a
        heartbeat, and the reaper retries it later."""
        try:
            await outcome
        except LeaseLost:
            log.warning("job %d was taken back before worker %s ended it", claim.job.id, self.id)
        except _OUTAGES as exc:
            log.warning("could not record the end of job %d: %s", claim.job.id, _describe(exc))

    async def _beat(self, context: JobContext, running: asyncio.Task[object]) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                context.heard(await self.queue.heartbeat(context.lease))
            except LeaseLost:
                log.warning(
                    "job %d was taken back from worker %s: stopping it", context.job.id, self.id
                )
                context.lost = True
                running.cancel()
                return
            except _OUTAGES as exc:
                log.warning("heartbeat of job %d failed: %s", context.job.id, _describe(exc))

    async def _reap(self, stopping: asyncio.Event) -> None:
        """Take back jobs of workers that stopped beating, a few times per lease."""
        while not stopping.is_set():
            try:
                taken = await self.queue.reap()
                if taken:
                    log.warning("took back %d jobs whose workers stopped beating", taken)
            except _OUTAGES as exc:
                log.warning("the reaper could not run: %s", _describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.lease_seconds / 4)
