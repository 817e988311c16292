"""``dockyard worker`` as a real process: it runs jobs without the HTTP server and stops on
SIGTERM, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from dockyard.blobs.purge import UPLOADS_PURGE
from dockyard.db import open_database
from dockyard.jobs.handlers import Handlers
from dockyard.jobs.queue import JobQueue
from dockyard.jobs.schedules import ScheduleService
from dockyard.registry import JOB_KINDS
from tests.jobs.conftest import FAST, eventually


async def test_the_worker_command_runs_jobs_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    db = open_database(database_url)
    queue = JobQueue(db, FAST)
    try:
        job_id = await queue.enqueue(UPLOADS_PURGE, {"max_idle_hours": 1})
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        environment["DOCKYARD_JOBS__POLL_SECONDS"] = "0.05"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dockyard",
            "worker",
            "--data-dir",
            str(tmp_path / "data"),
            "--database-url",
            database_url,
            "--concurrency",
            "3",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        try:

            async def done() -> bool:
                assert process.returncode is None, "the worker exited early"
                return (await queue.get(job_id)).status == "succeeded"

            await eventually(done, 60, "the worker process running the job")
            job = await queue.get(job_id)
            assert job.result == {"purged": 0, "max_idle_hours": 1}
            # The job ran in the worker process, not in this one.
            assert job.claimed_by is not None
            assert f":{process.pid}:" in job.claimed_by
            # The worker created the built-in schedules, as `dockyard serve` does.
            schedule = await ScheduleService(db, Handlers()).get_by_name("uploads-purge")
            assert schedule.kind == UPLOADS_PURGE

            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert lines[0].startswith("dockyard worker ")
        assert f"3 slots ({', '.join(JOB_KINDS)})" in lines[0]
        assert lines[-1] == "dockyard worker stopped"
    finally:
        await db.dispose()
