"""The scheduler loop: fires each due run of each schedule exactly once, across all replicas.

Every replica runs this loop against the same table. A run is fired by moving
the schedule's ``next_run_at`` from the due time to the following one with a
compare-and-set: of all the replicas that saw the run due, exactly one UPDATE
matches ``next_run_at = :due`` (the others find it moved and match nothing), and
that replica enqueues the job in the same transaction, so that the run and its
job exist together or not at all.

A run missed while no scheduler ran (every replica down) is fired once when one
comes back, and the schedule continues from the present: no burst of catch-up runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.errors import DockyardError
from dockyard.jobs.cron import next_run
from dockyard.jobs.models import Schedule
from dockyard.jobs.queue import JobQueue, decode_json

log = logging.getLogger(__name__)

_DUE = (
    select(
        Schedule.id,
        Schedule.name,
        Schedule.kind,
        Schedule.payload,
        Schedule.cron,
        Schedule.next_run_at,
    )
    .where(Schedule.enabled, Schedule.next_run_at <= bindparam("now"))
    .order_by(Schedule.next_run_at)
)
_ADVANCE = (
    update(Schedule)
    .where(
        Schedule.id == bindparam("schedule_id"),
        Schedule.next_run_at == bindparam("due"),
        Schedule.enabled,
    )
    .values(next_run_at=bindparam("following"), last_run_at=bindparam("due"))
)


class Scheduler:
    def __init__(self, db: Database, queue: JobQueue, *, poll_seconds: float) -> None:
        self.db = db
        self.queue = queue
        self.poll_seconds = poll_seconds

    async def tick(self, now: datetime | None = None) -> list[int]:
        """Fire the runs due at ``now`` that no other scheduler fired; the ids of the jobs
        this one enqueued."""
        now = now or utcnow()
        async with self.db.read() as conn:
            due = (await conn.execute(_DUE, {"now": now})).all()
        fired = []
        for schedule in due:
            valid = True
            try:
                following = next_run(schedule.cron, max(now, schedule.next_run_at))
            except DockyardError as exc:
                # Only a hand-edited row gets here (the service checks expressions); it stops.
                log.warning("schedule %s stops: %s", schedule.name, exc.message)
                following, valid = None, False
            async with self.db.write() as conn:
                moved = await conn.execute(
                    _ADVANCE,
                    {
                        "schedule_id": schedule.id,
                        "due": schedule.next_run_at,
                        "following": following,
                    },
                )
                if moved.rowcount == 1 and valid:
                    fired.append(
                        await self.queue.add(
                            conn,
                            schedule.kind,
                            decode_json(schedule.payload),
                            schedule_id=schedule.id,
                        )
                    )
        if fired:
            self.queue.wake()
        return fired

    async def run(self, stopping: asyncio.Event) -> None:
        """Tick every ``poll_seconds`` until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.tick()
            except (DBAPIError, DockyardError) as exc:
                log.warning("the scheduler could not fire due schedules: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.poll_seconds)
