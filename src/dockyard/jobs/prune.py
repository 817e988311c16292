"""The ``job_history.prune`` job: forget finished jobs after a while.

Every run of every job leaves a row (its status, progress, result or error), which
is what the API and the console show as the jobs' history. Nothing else removes
them, and a registry that runs a few scheduled jobs a day, or a replication every
few minutes, would keep them forever. Jobs that finished (succeeded, failed or were
cancelled) longer than ``jobs.keep_finished_days`` ago are deleted, in batches; a
queued or running job is never touched. Safe to run twice, and on any replica.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.jobs.handlers import JobContext
from dockyard.jobs.models import CANCELLED, FAILED, SUCCEEDED, Job
from dockyard.jobs.schedules import ScheduleSpec

JOBS_PRUNE = "job_history.prune"
# Daily at 03:30 UTC, in Harbor's six fields; created on first start, an admin may change it.
DAILY_JOBS_PRUNE = ScheduleSpec("job-history-prune", JOBS_PRUNE, "0 30 3 * * *")
_BATCH = 1000

_OLD = and_(Job.status.in_((SUCCEEDED, FAILED, CANCELLED)), Job.finished_at < bindparam("cutoff"))
_COUNT = select(func.count()).select_from(Job).where(_OLD)
_BATCH_IDS = select(Job.id).where(_OLD).order_by(Job.id).limit(_BATCH)
_DROP = delete(Job).where(Job.id.in_(bindparam("ids", expanding=True)), _OLD)


class JobPrune:
    """The handler: ``{"keep_days": d}`` in the payload overrides the setting."""

    def __init__(self, db: Database, *, keep_days: float) -> None:
        self.db = db
        self.keep_days = keep_days

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        days = job.positive("keep_days", self.keep_days, "days", limit=1e5)
        cutoff = utcnow() - timedelta(days=days)
        async with self.db.read() as conn:
            total = int(await conn.scalar(_COUNT, {"cutoff": cutoff}) or 0)
        await job.progress(0, total, f"{total} jobs finished over {days} days ago")
        pruned = 0
        while True:
            async with self.db.read() as conn:
                ids = list((await conn.scalars(_BATCH_IDS, {"cutoff": cutoff})).all())
            if not ids:
                break
            async with self.db.write() as conn:
                result = await conn.execute(_DROP, {"ids": ids, "cutoff": cutoff})
            pruned += result.rowcount
            await job.progress(pruned, max(total, pruned), f"removed {pruned} finished jobs")
            if len(ids) < _BATCH:
                break
        return {"pruned": pruned, "keep_days": days}
