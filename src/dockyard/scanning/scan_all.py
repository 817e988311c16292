"""Scan all: every image in the registry through its project's scanner, throttled, with
progress; run by hand or by schedule (Harbor's ``/system/scanAll``).

A run is a ``scan.all`` job. It queues the scans of a few images at a time (the
``scanning.concurrency`` setting) and runs them itself unless another worker took
them first, so that it moves on also where one worker is all there is; it reports
how many are done, and the outcomes when it ends. Stopping it stops its scans.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from dockyard.artifacts.models import Manifest
from dockyard.db import Database
from dockyard.errors import Conflict
from dockyard.jobs.handlers import JobCancelled, JobContext
from dockyard.jobs.models import Job
from dockyard.jobs.named import NamedSchedule, NamedScheduleInfo, ScheduleType
from dockyard.jobs.queue import JobInfo, JobQueue
from dockyard.jobs.schedules import ScheduleService
from dockyard.projects.models import Repository
from dockyard.scanning.models import ScanReport
from dockyard.scanning.reports import VULNERABILITY_REPORT
from dockyard.scanning.scanners import scanner_for
from dockyard.scanning.scans import SCANNABLE_KINDS, ScanService

SCAN_ALL = "scan.all"
SCHEDULE_NAME = "scan-all"
# How often a run looks at scans that other workers took.
_POLL_SECONDS = 0.5


class ScanAllService:
    def __init__(self, jobs: JobQueue, schedules: ScheduleService) -> None:
        self.jobs = jobs
        self._schedule = NamedSchedule(schedules, SCHEDULE_NAME, SCAN_ALL)

    async def start(self, requester: str) -> JobInfo:
        """Start a run now; Conflict while one is queued or running."""
        if await self.ongoing() is not None:
            raise Conflict("a scan of all artifacts is in progress already")
        job_id = await self.jobs.enqueue(SCAN_ALL, {"requester": requester}, max_attempts=1)
        return await self.jobs.get(job_id)

    async def ongoing(self) -> JobInfo | None:
        for status in ("running", "queued"):
            found, _ = await self.jobs.search(kind=SCAN_ALL, status=status, limit=1)
            if found:
                return found[0]
        return None

    async def latest(self, *, scheduled: bool | None = None) -> JobInfo | None:
        """The newest run (only scheduled or manual ones, when asked)."""
        runs, _ = await self.jobs.search(kind=SCAN_ALL, limit=50)
        for run in runs:
            if scheduled is None or (run.schedule_id is not None) == scheduled:
                return run
        return None

    async def stop(self) -> JobInfo:
        run = await self.ongoing()
        if run is None:
            raise Conflict("no scan of all artifacts is in progress")
        return await self.jobs.cancel(run.id)

    async def schedule(self) -> NamedScheduleInfo:
        return await self._schedule.get()

    async def set_schedule(self, kind: ScheduleType, cron: str | None) -> NamedScheduleInfo:
        return await self._schedule.set(kind, cron, {"requester": "schedule"})


class ScanAll:
    """The ``scan.all`` job."""

    def __init__(self, db: Database, jobs: JobQueue, scans: ScanService, window: int) -> None:
        self.db = db
        self.jobs = jobs
        self.scans = scans
        self.window = window
        # Runs one queued job here (Worker.run_one); set by the composition root, which
        # has the handlers this one is among.
        self.run_here: Callable[[int], Awaitable[bool]] | None = None

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        targets = await self._targets()
        total = len(targets)
        await job.progress(0, total, f"scanning {total} artifacts")
        outcomes: Counter[str] = Counter()
        in_flight: list[int] = []
        try:
            for start in range(0, total, self.window):
                in_flight = await self._enqueue(targets[start : start + self.window])
                await self._run(in_flight)
                outcomes.update(await self._outcomes(in_flight))
                in_flight = []
                done = min(start + self.window, total)
                await job.progress(done, total, f"{done} of {total} artifacts scanned")
        except JobCancelled:
            for job_id in in_flight:
                await self.jobs.cancel(job_id)
            raise
        return {"total": total, "metrics": dict(outcomes)}

    async def _targets(self) -> list[tuple[int, int]]:
        """Every image (not an accessory) with its project, oldest first."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(Manifest.id, Repository.project_id)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Manifest.kind.in_(SCANNABLE_KINDS), Manifest.subject_digest.is_(None))
                .order_by(Manifest.id)
            )
            return [(row[0], row[1]) for row in rows]

    async def _enqueue(self, batch: list[tuple[int, int]]) -> list[int]:
        job_ids = []
        async with self.db.write() as conn:
            for manifest_id, project_id in batch:
                scanner = await scanner_for(conn, project_id)
                if scanner is not None:
                    job_ids += await self.scans.enqueue(conn, [manifest_id], scanner, sbom=False)
        self.jobs.wake()
        return job_ids

    async def _run(self, job_ids: list[int]) -> None:
        """Run the scans here, unless other workers took them; wait for all to end."""
        if self.run_here is not None:
            await asyncio.gather(*(self.run_here(job_id) for job_id in job_ids))
        while job_ids:
            async with self.db.read() as conn:
                open_ = await conn.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.id.in_(job_ids), Job.finished_at.is_(None))
                )
            if not open_:
                return
            await asyncio.sleep(_POLL_SECONDS)

    async def _outcomes(self, job_ids: list[int]) -> Counter[str]:
        if not job_ids:
            return Counter()
        async with self.db.read() as conn:
            statuses = await conn.scalars(
                select(ScanReport.status).where(
                    ScanReport.job_id.in_(job_ids), ScanReport.mime_type == VULNERABILITY_REPORT
                )
            )
            return Counter(statuses)
