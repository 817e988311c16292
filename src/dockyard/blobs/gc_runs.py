"""Garbage collection as an operator drives it: run now, schedule, history, stop.

Runs are jobs of kind ``gc.run`` on the job queue (blobs/gc.py does the work), so
their history, progress and cancellation are the queue's; the schedule is the
schedule named ``gc``. Harbor's schedule types map onto cron expressions.
"""

from __future__ import annotations

from typing import Any

from dockyard.blobs.gc import GC_RUN
from dockyard.errors import NotFound
from dockyard.jobs.named import NamedSchedule, NamedScheduleInfo, ScheduleType
from dockyard.jobs.queue import JobInfo, JobQueue
from dockyard.jobs.schedules import ScheduleService

SCHEDULE_NAME = "gc"
# The schedule's shape, as every schedule set by Harbor's types has it.
GCSchedule = NamedScheduleInfo


class GCService:
    def __init__(self, jobs: JobQueue, schedules: ScheduleService) -> None:
        self.jobs = jobs
        self._schedule = NamedSchedule(schedules, SCHEDULE_NAME, GC_RUN)

    async def start(self, parameters: dict[str, Any]) -> JobInfo:
        """Enqueue a run now (the job's payload: dry_run, delete_untagged, grace_minutes)."""
        # One attempt: a run that failed halfway is finished by the next one anyway.
        job_id = await self.jobs.enqueue(GC_RUN, parameters, max_attempts=1)
        return await self.jobs.get(job_id)

    async def history(self, *, offset: int, limit: int) -> tuple[list[JobInfo], int]:
        """Runs, newest first; and how many there were."""
        return await self.jobs.search(kind=GC_RUN, offset=offset, limit=limit)

    async def get(self, run_id: int) -> JobInfo:
        job = await self.jobs.get(run_id)
        if job.kind != GC_RUN:
            raise NotFound(f"garbage collection {run_id} not found")
        return job

    async def stop(self, run_id: int) -> JobInfo:
        """Cancel a queued run; ask a running one to stop after its current batch."""
        await self.get(run_id)
        return await self.jobs.cancel(run_id)

    async def schedule(self) -> GCSchedule:
        return await self._schedule.get()

    async def set_schedule(
        self, kind: ScheduleType, cron: str | None, parameters: dict[str, Any]
    ) -> GCSchedule:
        """Run on a preset or a custom cron expression, or (``None``) not by schedule."""
        return await self._schedule.set(kind, cron, parameters)


def describe(result: dict[str, Any]) -> str:
    """A run's figures in a sentence (its log's, and ``dockyard gc run``'s)."""
    would = "would delete" if result.get("dry_run") else "deleted"
    return (
        f"{would} {result.get('artifacts_deleted', 0)} untagged artifacts, "
        f"{result.get('blobs_deleted', 0)} blobs ({result.get('bytes_freed', 0)} bytes), "
        f"{result.get('links_removed', 0)} unused blob links and "
        f"{result.get('uploads_purged', 0)} abandoned upload sessions "
        f"in {result.get('seconds', 0)} s"
    )
