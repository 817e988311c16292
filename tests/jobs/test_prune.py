"""The built-in ``job_history.prune`` job: finished jobs older than the limit go, in batches;
recent ones and queued or running ones stay. On both backends, through the app's services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from dockyard.db.base import utcnow
from dockyard.errors import NotFound
from dockyard.jobs import prune
from dockyard.jobs.models import Job
from dockyard.jobs.prune import JOBS_PRUNE
from dockyard.jobs.queue import JobInfo
from dockyard.registry import Registry
from tests.jobs.conftest import run_job


async def run(registry: Registry, payload: dict[str, object] | None = None) -> JobInfo:
    return await run_job(registry, JOBS_PRUNE, payload)


async def finished(registry: Registry, status: str, days_ago: float) -> int:
    """A job of a kind no worker here runs, ended as ``status`` ``days_ago`` days ago."""
    job_id = await registry.jobs.enqueue("test.done")
    claim = await registry.jobs.claim("elsewhere")
    assert claim is not None
    assert claim.job.id == job_id
    if status == "succeeded":
        await registry.jobs.succeed(claim.lease, {"n": 1})
    elif status == "failed":
        await registry.jobs.fail(claim.lease, "broke", retry=False)
    else:
        await registry.jobs.cancelled(claim.lease)
    await set_finished(registry, job_id, days_ago)
    return job_id


async def set_finished(registry: Registry, job_id: int, days_ago: float) -> None:
    async with registry.db.write() as conn:
        await conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(finished_at=utcnow() - timedelta(days=days_ago))
        )


async def exists(registry: Registry, job_id: int) -> bool:
    try:
        await registry.jobs.get(job_id)
    except NotFound:
        return False
    return True


async def test_old_finished_jobs_go_and_the_rest_stay(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prune, "_BATCH", 2)  # several batches
    old = [
        await finished(registry, status, days_ago=31)
        for status in ("succeeded", "failed", "cancelled", "succeeded", "failed")
    ]
    recent = await finished(registry, "succeeded", days_ago=29)
    # Queued, and running (claimed by a worker elsewhere), for longer than the limit.
    queued = await registry.jobs.enqueue("test.later", run_after=utcnow() + timedelta(days=1))
    running_id = await registry.jobs.enqueue("test.long")
    assert (await registry.jobs.claim("elsewhere")) is not None
    await set_finished(registry, queued, days_ago=40)  # as if; still never pruned
    await set_finished(registry, running_id, days_ago=40)

    job = await run(registry)
    assert (job.status, job.result) == ("succeeded", {"pruned": 5, "keep_days": 30.0})
    assert (job.progress.done, job.progress.total) == (5, 5)
    for job_id in old:
        assert not await exists(registry, job_id)
    for job_id in (recent, queued, running_id, job.id):
        assert await exists(registry, job_id)

    again = await run(registry, {"keep_days": 28})
    assert again.result == {"pruned": 1, "keep_days": 28}
    assert not await exists(registry, recent)


async def test_a_bad_payload_fails_at_once(registry: Registry) -> None:
    bad = await run(registry, {"keep_days": -1})
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert bad.error == "keep_days must be a positive number of days"


async def test_the_prune_is_scheduled_daily_by_default(registry: Registry) -> None:
    runner = registry.job_runner()
    await runner.start()
    await runner.stop()
    schedule = await registry.schedules.get_by_name("job-history-prune")
    assert (schedule.kind, schedule.cron, schedule.enabled) == (JOBS_PRUNE, "0 30 3 * * *", True)
    assert schedule.next_run_at is not None
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 30)
