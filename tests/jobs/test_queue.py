"""The queue's own operations: enqueue, claim, progress, finish, retry, cancel, reap."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.jobs.queue import Claim, JobQueue, LeaseLost
from tests.jobs.conftest import FAST


async def test_enqueue_claim_succeed(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.echo", {"say": "hello"}, max_attempts=2)
    queued = await queue.get(job_id)
    assert (queued.status, queued.kind, queued.payload) == ("queued", "test.echo", {"say": "hello"})
    assert (queued.attempts, queued.max_attempts, queued.claimed_by) == (0, 2, None)

    claim = await queue.claim("w1")
    assert claim is not None
    assert claim.job.id == job_id
    assert (claim.job.status, claim.job.attempts, claim.job.claimed_by) == ("running", 1, "w1")
    assert claim.lease.attempt == 1
    assert claim.job.started_at is not None
    assert claim.job.heartbeat_at is not None
    # One job, one claim: nothing is left for another worker.
    assert await queue.claim("w2") is None

    await queue.succeed(claim.lease, {"said": "hello", "n": [1, 2]})
    done = await queue.get(job_id)
    assert done.status == "succeeded"
    assert done.result == {"said": "hello", "n": [1, 2]}
    assert done.finished_at is not None
    assert done.error is None


async def test_jobs_are_claimed_oldest_due_first_and_not_before_run_after(
    queue: JobQueue,
) -> None:
    later = await queue.enqueue("test.a", run_after=utcnow() + timedelta(hours=1))
    first = await queue.enqueue("test.a")
    second = await queue.enqueue("test.a")
    claimed = [await queue.claim("w"), await queue.claim("w"), await queue.claim("w")]
    assert [c.job.id if c else None for c in claimed] == [first, second, None]
    assert (await queue.get(later)).status == "queued"


async def test_progress_is_visible_while_running(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.long")
    claim = await queue.claim("w")
    assert claim is not None
    assert await queue.progress(claim.lease, 3, 10, "three of ten") is False
    seen = (await queue.get(job_id)).progress
    assert (seen.done, seen.total, seen.message) == (3, 10, "three of ten")
    # None keeps the last total and message.
    await queue.progress(claim.lease, 4)
    seen = (await queue.get(job_id)).progress
    assert (seen.done, seen.total, seen.message) == (4, 10, "three of ten")


async def test_a_failure_is_retried_after_a_back_off_then_fails_for_good(db: Database) -> None:
    # Back-offs long enough (0.1-0.4 s) that the early claim below usually lands inside one.
    queue = JobQueue(
        db, FAST.model_copy(update={"retry_base_seconds": 0.2, "retry_max_seconds": 1.0})
    )
    settings = queue.settings
    job_id = await queue.enqueue("test.flaky", max_attempts=3)
    early: Claim | None = None
    for attempt in (1, 2):
        claim = early or await queue.claim("w")
        assert claim is not None
        assert claim.lease.attempt == attempt
        before = utcnow()
        assert await queue.fail(claim.lease, f"boom {attempt}") == "queued"
        job = await queue.get(job_id)
        assert (job.status, job.error, job.claimed_by) == ("queued", f"boom {attempt}", None)
        step = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
        delay = (job.run_after - before).total_seconds()
        assert step / 2 - 0.01 <= delay <= step + 0.05, (attempt, delay)
        # Not claimable before the back-off ends: a claim that got the job must have
        # come after run_after (a slow machine may take that long between the calls).
        early = await queue.claim("w")
        assert early is None or utcnow() >= job.run_after, (attempt, delay)
        await asyncio.sleep(max(0.0, (job.run_after - utcnow()).total_seconds()))
    claim = early or await queue.claim("w")
    assert claim is not None
    assert claim.lease.attempt == 3
    assert await queue.fail(claim.lease, "boom 3") == "failed"
    job = await queue.get(job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 3, "boom 3")
    assert job.finished_at is not None
    assert await queue.claim("w") is None


async def test_a_failure_without_retry_is_final(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.bad", max_attempts=5)
    claim = await queue.claim("w")
    assert claim is not None
    assert await queue.fail(claim.lease, "bad payload", retry=False) == "failed"
    assert (await queue.get(job_id)).status == "failed"


def test_back_off_grows_exponentially_with_jitter_and_a_cap(queue: JobQueue) -> None:
    base, cap = FAST.retry_base_seconds, FAST.retry_max_seconds
    for attempt in range(1, 12):
        step = min(cap, base * 2 ** (attempt - 1))
        delays = {queue.backoff(attempt) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered
    assert max(queue.backoff(40) for _ in range(20)) <= cap


async def test_cancel_a_queued_job_at_once(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.a")
    cancelled = await queue.cancel(job_id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None
    assert await queue.claim("w") is None
    # Again: nothing changes.
    assert (await queue.cancel(job_id)).status == "cancelled"


async def test_cancel_a_running_job_asks_its_handler(queue: JobQueue) -> None:
    job_id = await queue.enqueue("test.a")
    claim = await queue.claim("w")
    assert claim is not None
    assert await queue.heartbeat(claim.lease) is False
    asked = await queue.cancel(job_id)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    assert await queue.heartbeat(claim.lease) is True
    assert await queue.progress(claim.lease, 1) is True
    await queue.cancelled(claim.lease)
    assert (await queue.get(job_id)).status == "cancelled"
    # A job whose cancellation was asked for is not retried when it fails.
    other = await queue.enqueue("test.a", max_attempts=3)
    claim = await queue.claim("w")
    assert claim is not None
    assert claim.job.id == other
    await queue.cancel(other)
    assert await queue.fail(claim.lease, "stopped half-way") == "failed"


async def test_finished_jobs_cannot_be_cancelled_and_unknown_ones_are_not_found(
    queue: JobQueue,
) -> None:
    job_id = await queue.enqueue("test.a")
    claim = await queue.claim("w")
    assert claim is not None
    await queue.succeed(claim.lease, None)
    with pytest.raises(Conflict):
        await queue.cancel(job_id)
    with pytest.raises(NotFound):
        await queue.cancel(job_id + 1000)
    with pytest.raises(NotFound):
        await queue.get(job_id + 1000)


async def test_a_stale_heartbeat_hands_the_job_to_another_worker(queue: JobQueue) -> None:
    """A worker that claimed a job and died (it never beats again) loses it to the reaper;
    its late writes are refused, and another worker runs the job."""
    job_id = await queue.enqueue("test.a", max_attempts=3)
    dead = await queue.claim("dead-worker")
    assert dead is not None
    assert await queue.reap() == 0  # the lease is still fresh
    await asyncio.sleep(FAST.lease_seconds + 0.05)
    assert await queue.reap() == 1
    job = await queue.get(job_id)
    assert (job.status, job.claimed_by) == ("queued", None)
    assert job.error == "no heartbeat from worker dead-worker"

    alive = await queue.claim("alive-worker")
    assert alive is not None
    assert alive.job.id == job_id
    assert alive.lease.attempt == 2
    for late in (
        queue.heartbeat(dead.lease),
        queue.progress(dead.lease, 1),
        queue.succeed(dead.lease, "late"),
        queue.fail(dead.lease, "late"),
    ):
        with pytest.raises(LeaseLost):
            await late
    await queue.succeed(alive.lease, "done")
    job = await queue.get(job_id)
    assert (job.status, job.result, job.attempts, job.claimed_by) == (
        "succeeded",
        "done",
        2,
        "alive-worker",
    )


async def test_the_reaper_fails_a_job_out_of_attempts_and_ends_a_cancelled_one(
    queue: JobQueue,
) -> None:
    spent = await queue.enqueue("test.a", max_attempts=1)
    assert await queue.claim("dead") is not None
    stopping = await queue.enqueue("test.a", max_attempts=3)
    assert await queue.claim("dead") is not None
    await queue.cancel(stopping)
    await asyncio.sleep(FAST.lease_seconds + 0.05)
    assert await queue.reap() == 2
    assert (await queue.get(spent)).status == "failed"
    assert (await queue.get(stopping)).status == "cancelled"


async def test_two_reapers_take_a_job_back_once(queue: JobQueue, databases: object) -> None:
    assert callable(databases)
    other: Database = databases()
    job_id = await queue.enqueue("test.a")
    assert await queue.claim("dead") is not None
    await asyncio.sleep(FAST.lease_seconds + 0.05)
    taken = await asyncio.gather(queue.reap(), JobQueue(other, FAST).reap())
    assert sorted(taken) == [0, 1]
    assert (await queue.get(job_id)).attempts == 1


async def test_search_filters_and_pages_newest_first(queue: JobQueue) -> None:
    ids = [await queue.enqueue("test.a" if n % 2 else "test.b") for n in range(7)]
    claim = await queue.claim("w")
    assert claim is not None
    page, total = await queue.search(limit=3)
    assert total == 7
    assert [j.id for j in page] == ids[::-1][:3]
    page, total = await queue.search(offset=3, limit=3)
    assert [j.id for j in page] == ids[::-1][3:6]
    page, total = await queue.search(kind="test.a")
    assert total == 3
    assert {j.kind for j in page} == {"test.a"}
    page, total = await queue.search(status="running")
    assert total == 1
    assert page[0].id == claim.job.id
    with pytest.raises(InvalidInput):
        await queue.search(status="sleeping")


@pytest.mark.parametrize(
    ("kind", "payload", "max_attempts"),
    [
        ("", {}, None),
        ("Upper.case", {}, None),
        ("x" * 65, {}, None),
        ("test.a", {"when": object()}, None),
        ("test.a", {"big": "x" * 70_000}, None),
        ("test.a", {}, 0),
        ("test.a", {}, 101),
    ],
)
async def test_bad_jobs_are_refused(
    queue: JobQueue, kind: str, payload: dict[str, object], max_attempts: int | None
) -> None:
    with pytest.raises(InvalidInput):
        await queue.enqueue(kind, payload, max_attempts=max_attempts)
    assert (await queue.search())[1] == 0


async def test_a_result_that_is_not_json_is_refused(queue: JobQueue) -> None:
    await queue.enqueue("test.a")
    claim = await queue.claim("w")
    assert claim is not None
    with pytest.raises(InvalidInput, match="not JSON"):
        await queue.succeed(claim.lease, {1, 2})
    assert (await queue.get(claim.job.id)).status == "running"
