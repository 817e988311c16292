"""Schedules: cron expressions (Harbor's six fields and cron's five), CRUD, and each run fired
exactly once however many schedulers race for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.db.base import utcnow
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.jobs.cron import next_run
from dockyard.jobs.handlers import Handlers, JobContext
from dockyard.jobs.queue import JobQueue
from dockyard.jobs.runner import JobRunner
from dockyard.jobs.scheduler import Scheduler
from dockyard.jobs.schedules import ScheduleService, ScheduleSpec
from tests.jobs.conftest import FAST, Databases, eventually


async def _noop(job: JobContext) -> dict[str, object]:
    return job.payload


@pytest.fixture(autouse=True)
def _kinds(handlers: Handlers) -> None:
    handlers.register("test.tick", _noop)


NEW_YEAR = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Harbor's six fields, seconds first.
        ("0 0 * * * *", NEW_YEAR, NEW_YEAR + timedelta(hours=1)),
        ("0 0 3 * * *", NEW_YEAR, NEW_YEAR + timedelta(hours=3)),
        ("*/15 * * * * *", NEW_YEAR, NEW_YEAR + timedelta(seconds=15)),
        ("30 5 0 * * *", NEW_YEAR, NEW_YEAR + timedelta(minutes=5, seconds=30)),
        # cron's five fields.
        ("0 3 * * *", NEW_YEAR, NEW_YEAR + timedelta(hours=3)),
        ("*/10 * * * *", NEW_YEAR + timedelta(minutes=1), NEW_YEAR + timedelta(minutes=10)),
        ("@daily", NEW_YEAR, NEW_YEAR + timedelta(days=1)),
        # Strictly after: a time that matches is not its own next run.
        ("0 0 0 * * *", NEW_YEAR, NEW_YEAR + timedelta(days=1)),
    ],
)
def test_cron_expressions(expression: str, after: datetime, expected: datetime) -> None:
    assert next_run(expression, after) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "bad",
        "* * * *",
        "0 0 0 * * * 2030",
        "61 * * * *",
        "0 0 25 * * *",
        "1-2-3 * * * *",
        "*/0 * * * *",
        "* * * * mon",
        "0 0 L * *",
        "@sometimes",
        "x" * 300,
    ],
)
async def test_bad_cron_expressions_are_refused(
    schedules: ScheduleService, expression: str
) -> None:
    with pytest.raises(InvalidInput, match="cron expression"):
        await schedules.create("nightly", "test.tick", expression)
    created = await schedules.create("nightly", "test.tick", "0 0 3 * * *")
    with pytest.raises(InvalidInput, match="cron expression"):
        await schedules.update(created.id, cron=expression)
    assert (await schedules.get(created.id)).cron == "0 0 3 * * *"


async def test_an_expression_no_date_matches_is_valid_and_never_fires(
    schedules: ScheduleService, queue: JobQueue
) -> None:
    """As in cron: February 30th is a date no year has, so the schedule never runs."""
    never = await schedules.create("never", "test.tick", "0 0 0 30 2 *")
    assert (never.enabled, never.next_run_at) == (True, None)
    scheduler = Scheduler(queue.db, queue, poll_seconds=1)
    assert await scheduler.tick(utcnow() + timedelta(days=800)) == []
    assert next_run("0 0 31 2,4 *", NEW_YEAR) is None


async def test_schedule_crud(schedules: ScheduleService) -> None:
    before = utcnow()
    nightly = await schedules.create("nightly", "test.tick", "0 0 3 * * *", {"deep": True})
    assert (nightly.name, nightly.kind, nightly.payload, nightly.enabled) == (
        "nightly",
        "test.tick",
        {"deep": True},
        True,
    )
    # The next 03:00:00 UTC.
    assert nightly.next_run_at is not None
    assert before < nightly.next_run_at <= before + timedelta(days=1)
    assert nightly.next_run_at.timetz() == datetime(2030, 1, 1, 3, tzinfo=UTC).timetz()
    assert nightly.last_run_at is None
    with pytest.raises(Conflict):
        await schedules.create("nightly", "test.tick", "0 3 * * *")
    with pytest.raises(InvalidInput, match=r"unknown job kind 'test\.nothing'"):
        await schedules.create("other", "test.nothing", "0 3 * * *")
    with pytest.raises(InvalidInput, match="schedule name"):
        await schedules.create("Not A Name", "test.tick", "0 3 * * *")

    off = await schedules.update(nightly.id, enabled=False)
    assert (off.enabled, off.next_run_at) == (False, None)
    changed = await schedules.update(nightly.id, cron="*/5 * * * *", payload={"deep": False})
    assert (changed.cron, changed.payload, changed.enabled) == (
        "*/5 * * * *",
        {"deep": False},
        False,
    )
    assert changed.next_run_at is None
    on = await schedules.update(nightly.id, enabled=True)
    assert on.next_run_at is not None
    assert on.next_run_at <= utcnow() + timedelta(minutes=5)
    assert on.updated_at >= nightly.updated_at

    hourly = await schedules.create("hourly", "test.tick", "0 0 * * * *", enabled=False)
    assert hourly.next_run_at is None
    listed, total = await schedules.search()
    assert total == 2
    assert [s.name for s in listed] == ["hourly", "nightly"]
    assert (await schedules.get_by_name("hourly")).id == hourly.id

    await schedules.delete(hourly.id)
    for missing in (schedules.get(hourly.id), schedules.delete(hourly.id)):
        with pytest.raises(NotFound):
            await missing
    with pytest.raises(NotFound):
        await schedules.update(hourly.id, enabled=True)


async def test_built_in_schedules_are_created_once_and_never_overwritten(
    schedules: ScheduleService,
) -> None:
    spec = ScheduleSpec("cleanup", "test.tick", "0 0 3 * * *", {"age": 1})
    await schedules.ensure([spec])
    created = await schedules.get_by_name("cleanup")
    # An operator changes it; the next start leaves it alone.
    await schedules.update(created.id, cron="0 30 4 * * *", enabled=False)
    await asyncio.gather(schedules.ensure([spec]), schedules.ensure([spec]))
    kept = await schedules.get_by_name("cleanup")
    assert (kept.id, kept.cron, kept.enabled) == (created.id, "0 30 4 * * *", False)
    assert (await schedules.search())[1] == 1


async def test_a_due_run_fires_exactly_once_across_schedulers(
    databases: Databases, handlers: Handlers
) -> None:
    """Three replicas' schedulers, each on its own Database, race for every run of a
    schedule: each run is fired by one of them, with one job, and the schedule moves on."""
    service = ScheduleService(databases(), handlers)
    schedule = await service.create("every-second", "test.tick", "* * * * * *", {"n": 1})
    queues = [JobQueue(databases(), FAST) for _ in range(3)]
    schedulers = [Scheduler(q.db, q, poll_seconds=FAST.poll_seconds) for q in queues]
    assert schedule.next_run_at is not None
    due = schedule.next_run_at
    for _ in range(10):
        fired = await asyncio.gather(*(s.tick(due) for s in schedulers))
        assert sum(len(ids) for ids in fired) == 1, fired
        after = await service.get(schedule.id)
        assert after.last_run_at == due
        assert after.next_run_at == due + timedelta(seconds=1)
        assert after.next_run_at is not None
        due = after.next_run_at
    jobs, total = await queues[0].search(kind="test.tick", limit=100)
    assert total == 10
    assert {(j.schedule_id, j.status) for j in jobs} == {(schedule.id, "queued")}
    assert {j.payload["n"] for j in jobs} == {1}


async def test_runs_missed_while_no_scheduler_ran_fire_once(
    schedules: ScheduleService, queue: JobQueue
) -> None:
    schedule = await schedules.create("every-second", "test.tick", "* * * * * *")
    assert schedule.next_run_at is not None
    much_later = schedule.next_run_at + timedelta(hours=2)
    scheduler = Scheduler(queue.db, queue, poll_seconds=1)
    assert len(await scheduler.tick(much_later)) == 1
    after = await schedules.get(schedule.id)
    assert after.last_run_at == schedule.next_run_at
    assert after.next_run_at == much_later + timedelta(seconds=1)
    assert await scheduler.tick(much_later) == []


async def test_disabled_and_not_yet_due_schedules_do_not_fire(
    schedules: ScheduleService, queue: JobQueue
) -> None:
    hourly = await schedules.create("hourly", "test.tick", "0 0 * * * *")
    await schedules.create("off", "test.tick", "* * * * * *", enabled=False)
    scheduler = Scheduler(queue.db, queue, poll_seconds=1)
    assert hourly.next_run_at is not None
    assert await scheduler.tick(hourly.next_run_at - timedelta(seconds=1)) == []
    assert (await queue.search())[1] == 0


async def test_a_schedule_in_the_runner_enqueues_a_job_that_runs(
    databases: Databases, handlers: Handlers
) -> None:
    """The whole loop in real time: the scheduler fires a six-field schedule each second and
    the worker beside it runs the jobs."""
    queue = JobQueue(databases(), FAST)
    service = ScheduleService(queue.db, handlers)
    runner = JobRunner(
        queue,
        service,
        handlers,
        FAST,
        builtins=[ScheduleSpec("every-second", "test.tick", "* * * * * *", {"hello": "world"})],
    )
    await runner.start()
    try:

        async def ran() -> bool:
            jobs, _ = await queue.search(status="succeeded")
            return bool(jobs)

        await eventually(ran, 5, "a scheduled job succeeding")
    finally:
        await runner.stop()
    jobs, _ = await queue.search(status="succeeded")
    schedule = await service.get_by_name("every-second")
    assert jobs[0].schedule_id == schedule.id
    assert jobs[0].result == {"hello": "world"}
    assert schedule.last_run_at is not None
