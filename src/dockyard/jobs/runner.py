"""The background half of a process: the worker and the scheduler, started and stopped together
by ``dockyard serve`` (unless ``jobs.run_in_serve`` is off) and by ``dockyard worker``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from dockyard.jobs.handlers import Handlers
from dockyard.jobs.queue import JobQueue
from dockyard.jobs.scheduler import Scheduler
from dockyard.jobs.schedules import ScheduleService, ScheduleSpec
from dockyard.jobs.worker import Worker
from dockyard.settings import JobSettings

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        schedules: ScheduleService,
        handlers: Handlers,
        settings: JobSettings,
        *,
        builtins: Sequence[ScheduleSpec] = (),
        slots: int | None = None,
    ) -> None:
        self.queue = queue
        self.schedules = schedules
        self.builtins = builtins
        self.worker = Worker(queue, handlers, settings, slots=slots)
        self.scheduler = Scheduler(queue.db, queue, poll_seconds=settings.poll_seconds)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Create the built-in schedules that are missing, then start working."""
        await self.schedules.ensure(self.builtins)
        self._stopping = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self.worker.run(self._stopping), name="job worker"),
            asyncio.create_task(self.scheduler.run(self._stopping), name="job scheduler"),
        ]
        log.info("job worker %s runs %d slots", self.worker.id, self.worker.slots)

    async def stop(self) -> None:
        """Stop claiming and firing; wait for running jobs up to the grace period."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.error("a job loop ended with an error", exc_info=outcome)
