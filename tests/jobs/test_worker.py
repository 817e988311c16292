"""The worker loop: handlers run once per job across workers, retries, cancellation, progress,
heartbeats, a dead worker's job retried by another, and shutdown."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from dockyard.errors import InvalidInput
from dockyard.jobs.handlers import Handlers, JobContext
from dockyard.jobs.queue import JobInfo, JobQueue
from dockyard.jobs.worker import Worker
from tests.jobs.conftest import FAST, Databases, eventually, working

Running = Callable[..., AbstractAsyncContextManager[Worker]]


@pytest.fixture
def running() -> Running:
    """``async with running(queue, handlers) as worker``: a worker working until the block ends."""
    return working


async def finished(queue: JobQueue, job_id: int, timeout: float = 10.0) -> JobInfo:
    async def done() -> bool:
        return (await queue.get(job_id)).status in ("succeeded", "failed", "cancelled")

    await eventually(done, timeout, f"job {job_id} finishing")
    return await queue.get(job_id)


async def test_a_handler_runs_and_its_result_is_kept(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def add(job: JobContext) -> dict[str, int]:
        return {"sum": job.payload["a"] + job.payload["b"]}

    handlers.register("test.add", add)
    async with running(queue, handlers) as worker:
        job = await finished(queue, await queue.enqueue("test.add", {"a": 2, "b": 3}))
    assert (job.status, job.result, job.attempts) == ("succeeded", {"sum": 5}, 1)
    assert job.claimed_by == worker.id


async def test_an_enqueue_wakes_an_idle_worker_of_the_process(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def noop(job: JobContext) -> None:
        return None

    handlers.register("test.noop", noop)
    # Polling once a minute: only the wake-up can start the job in time.
    slow_poll = FAST.model_copy(update={"poll_seconds": 60.0})
    async with running(queue, handlers, slow_poll):
        await asyncio.sleep(0.05)  # both slots are idle, waiting
        job = await finished(queue, await queue.enqueue("test.noop"), timeout=2.0)
    assert job.status == "succeeded"


async def test_two_workers_on_separate_databases_run_each_job_exactly_once(
    databases: Databases, handlers: Handlers, running: Running
) -> None:
    runs: Counter[int] = Counter()

    async def record(job: JobContext) -> int:
        runs[job.job.id] += 1
        await asyncio.sleep(0.002)
        return job.job.id

    handlers.register("test.record", record)
    producer = JobQueue(databases(), FAST)
    ids = [await producer.enqueue("test.record") for _ in range(200)]
    first, second = JobQueue(databases(), FAST), JobQueue(databases(), FAST)
    async with running(first, handlers, slots=2), running(second, handlers, slots=2):

        async def all_done() -> bool:
            return (await producer.search(status="succeeded", limit=1))[1] == len(ids)

        await eventually(all_done, 60, "200 jobs succeeding")
    assert sorted(runs) == ids
    assert set(runs.values()) == {1}
    jobs, _ = await producer.search(limit=200)
    assert {job.attempts for job in jobs} == {1}
    assert {job.result for job in jobs} == set(ids)
    # Both workers took part.
    assert len({job.claimed_by for job in jobs}) == 2


async def test_a_failing_handler_is_retried_with_back_off_then_fails(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    attempts: list[float] = []

    async def flaky(job: JobContext) -> None:
        attempts.append(asyncio.get_running_loop().time())
        raise RuntimeError(f"attempt {job.lease.attempt} broke")

    handlers.register("test.flaky", flaky)
    async with running(queue, handlers):
        job = await finished(queue, await queue.enqueue("test.flaky", max_attempts=3))
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "RuntimeError: attempt 3 broke"
    assert len(attempts) == 3
    # Each retry waited at least half its back-off step.
    for n, (before, after) in enumerate(itertools.pairwise(attempts), start=1):
        step = min(FAST.retry_max_seconds, FAST.retry_base_seconds * 2 ** (n - 1))
        assert after - before >= step / 2 - 0.005


async def test_a_handler_that_succeeds_on_a_retry(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def second_time_lucky(job: JobContext) -> str:
        if job.lease.attempt == 1:
            raise OSError("the store blinked")
        return "ok"

    handlers.register("test.lucky", second_time_lucky)
    async with running(queue, handlers):
        job = await finished(queue, await queue.enqueue("test.lucky"))
    assert (job.status, job.attempts, job.result) == ("succeeded", 2, "ok")
    # The error of the failed attempt stays on record.
    assert job.error == "OSError: the store blinked"


async def test_a_handler_cancelled_from_inside_is_a_failed_attempt(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def cancels_itself(job: JobContext) -> str:
        if job.lease.attempt == 1:
            raise asyncio.CancelledError
        return "ok"

    handlers.register("test.self-cancel", cancels_itself)
    async with running(queue, handlers, slots=1) as worker:
        job = await finished(queue, await queue.enqueue("test.self-cancel"))
        # The slot lives on and runs the next job.
        other = await finished(queue, await queue.enqueue("test.self-cancel"))
    assert (job.status, job.attempts, job.error) == ("succeeded", 2, "the handler was cancelled")
    assert (other.status, other.claimed_by) == ("succeeded", worker.id)


async def test_bad_input_unknown_kinds_and_bad_results_fail_without_retry(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def picky(job: JobContext) -> None:
        raise InvalidInput("the payload names no repository")

    async def odd(job: JobContext) -> object:
        return {1, 2, 3}

    handlers.register("test.picky", picky)
    handlers.register("test.odd", odd)
    async with running(queue, handlers):
        picky_job = await finished(queue, await queue.enqueue("test.picky", max_attempts=5))
        unknown = await finished(queue, await queue.enqueue("test.unknown", max_attempts=5))
        odd_job = await finished(queue, await queue.enqueue("test.odd", max_attempts=5))
    assert (picky_job.status, picky_job.attempts) == ("failed", 1)
    assert picky_job.error == "the payload names no repository"
    assert (unknown.status, unknown.attempts) == ("failed", 1)
    assert unknown.error is not None
    assert "no handler for job kind 'test.unknown'" in unknown.error
    assert "test.picky" in unknown.error  # and says which kinds this worker runs
    assert (odd_job.status, odd_job.attempts) == ("failed", 1)
    assert odd_job.error is not None
    assert "not JSON" in odd_job.error


async def test_progress_is_visible_while_running_and_cancel_stops_the_handler(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    steps: list[int] = []

    async def long(job: JobContext) -> str:
        for done in range(1, 10_000):
            steps.append(done)
            await job.progress(done, 10_000, f"step {done}")
            await asyncio.sleep(0.01)
        return "finished"

    handlers.register("test.long", long)
    async with running(queue, handlers):
        job_id = await queue.enqueue("test.long")

        async def some_progress() -> bool:
            job = await queue.get(job_id)
            return job.status == "running" and job.progress.done >= 3

        await eventually(some_progress, what="progress")
        seen = (await queue.get(job_id)).progress
        assert seen.total == 10_000
        assert seen.message == f"step {seen.done}"
        await queue.cancel(job_id)
        job = await finished(queue, job_id)
    assert job.status == "cancelled"
    assert job.result is None
    assert len(steps) < 10_000
    stopped_at = len(steps)
    await asyncio.sleep(0.05)
    assert len(steps) == stopped_at


async def test_a_handler_between_progress_reports_learns_of_cancel_from_the_heartbeat(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    async def quiet(job: JobContext) -> None:
        while True:
            await asyncio.sleep(0.01)
            job.check_cancelled()

    handlers.register("test.quiet", quiet)
    async with running(queue, handlers):
        job_id = await queue.enqueue("test.quiet")

        async def started() -> bool:
            return (await queue.get(job_id)).status == "running"

        await eventually(started)
        await queue.cancel(job_id)
        assert (await finished(queue, job_id)).status == "cancelled"


async def test_a_job_claimed_by_a_killed_worker_is_retried_by_another(
    databases: Databases, handlers: Handlers, running: Running
) -> None:
    """The first worker claims the job and is never heard of again (as after kill -9); the
    live worker's reaper takes the job back once the lease runs out and runs it."""

    async def work(job: JobContext) -> str:
        return f"attempt {job.lease.attempt}"

    handlers.register("test.work", work)
    dead = JobQueue(databases(), FAST)
    job_id = await dead.enqueue("test.work", max_attempts=3)
    claim = await dead.claim("killed-worker")
    assert claim is not None
    assert claim.job.id == job_id
    live = JobQueue(databases(), FAST)
    async with running(live, handlers) as worker:
        job = await finished(live, job_id, timeout=FAST.lease_seconds * 10)
    assert (job.status, job.result, job.attempts) == ("succeeded", "attempt 2", 2)
    assert job.claimed_by == worker.id


async def test_a_stalled_worker_loses_its_job_and_stops_its_handler(
    databases: Databases, handlers: Handlers, running: Running
) -> None:
    """A worker whose heartbeats stop reaching the database (stalled past the lease) finds
    the job taken back at its next beat and stops the handler, which another worker reruns."""
    first_run = asyncio.Event()
    first_stopped = asyncio.Event()

    async def work(job: JobContext) -> str:
        if job.lease.attempt == 1:
            first_run.set()
            try:
                await asyncio.sleep(30)
            finally:
                first_stopped.set()
        return f"attempt {job.lease.attempt}"

    handlers.register("test.work", work)
    # The stalled worker beats far less often than its lease needs.
    stalled = FAST.model_copy(update={"heartbeat_seconds": 1.0, "lease_seconds": 2.0})
    slow_queue = JobQueue(databases(), stalled)
    job_id = await slow_queue.enqueue("test.work", max_attempts=3)
    async with running(slow_queue, handlers, stalled, slots=1):
        await asyncio.wait_for(first_run.wait(), 5)
        # Another replica with the short lease reaps the job and runs it.
        async with running(JobQueue(databases(), FAST), handlers):
            job = await finished(slow_queue, job_id)
            await asyncio.wait_for(first_stopped.wait(), 5)
    assert (job.status, job.result, job.attempts) == ("succeeded", "attempt 2", 2)


async def test_shutdown_lets_running_jobs_finish_within_the_grace(
    queue: JobQueue, handlers: Handlers, running: Running
) -> None:
    started = asyncio.Event()

    async def short(job: JobContext) -> str:
        started.set()
        await asyncio.sleep(0.2)
        return "finished"

    handlers.register("test.short", short)
    async with running(queue, handlers):
        job_id = await queue.enqueue("test.short")
        await asyncio.wait_for(started.wait(), 5)
    # The block's end stopped the worker, which waited for the job.
    job = await queue.get(job_id)
    assert (job.status, job.result) == ("succeeded", "finished")


async def test_a_job_outliving_the_grace_is_left_to_the_reaper(
    databases: Databases, handlers: Handlers, running: Running
) -> None:
    started = asyncio.Event()

    async def endless(job: JobContext) -> str:
        if job.lease.attempt == 1:
            started.set()
            await asyncio.sleep(30)
        return "rerun"

    handlers.register("test.endless", endless)
    queue = JobQueue(databases(), FAST)
    job_id = await queue.enqueue("test.endless")
    no_grace = FAST.model_copy(update={"shutdown_grace_seconds": 0.1})
    async with running(queue, handlers, no_grace):
        await asyncio.wait_for(started.wait(), 5)
    left = await queue.get(job_id)
    assert (left.status, left.attempts) == ("running", 1)
    # The next worker (another replica, or this one restarted) retries it.
    async with running(JobQueue(databases(), FAST), handlers):
        job = await finished(queue, job_id)
    assert (job.status, job.result, job.attempts) == ("succeeded", "rerun", 2)
