"""``dockyard serve`` runs the worker and the scheduler in its own process, unless
``jobs.run_in_serve`` leaves them to ``dockyard worker``."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.app import create_app
from dockyard.blobs.purge import UPLOADS_PURGE
from dockyard.db.migrate import upgrade
from dockyard.errors import NotFound
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.jobs.conftest import FAST, eventually


async def test_serve_runs_jobs_and_creates_the_built_in_schedules(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    async with app.router.lifespan_context(app):
        schedule = await registry.schedules.get_by_name("uploads-purge")
        assert schedule.enabled
        job_id = await registry.jobs.enqueue(UPLOADS_PURGE)

        async def succeeded() -> bool:
            return (await registry.jobs.get(job_id)).status == "succeeded"

        await eventually(succeeded, what="the job running inside the server")


async def test_serve_can_leave_jobs_to_the_worker_command(settings: Settings) -> None:
    settings.jobs = FAST.model_copy(update={"run_in_serve": False})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    async with app.router.lifespan_context(app):
        job_id = await registry.jobs.enqueue(UPLOADS_PURGE)
        # Several poll intervals pass: nobody in this process claims the job.
        await asyncio.sleep(FAST.poll_seconds * 10)
        assert (await registry.jobs.get(job_id)).status == "queued"
        with pytest.raises(NotFound):
            await registry.schedules.get_by_name("uploads-purge")
