"""The built-in ``uploads.purge`` job: abandoned upload sessions go, row and bytes; live ones stay.
Run through the real app's services, on SQLite and files, and on PostgreSQL and S3."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update

from dockyard.blobs.models import UploadSession
from dockyard.blobs.purge import UPLOADS_PURGE
from dockyard.db.base import utcnow
from dockyard.jobs.queue import JobInfo
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.jobs.conftest import run_job
from tests.oci.helpers import digest_of, start_upload
from tests.stored import stored_keys


async def run(registry: Registry, payload: dict[str, object] | None = None) -> JobInfo:
    return await run_job(registry, UPLOADS_PURGE, payload)


async def open_upload(client: httpx.AsyncClient, data: bytes) -> str:
    """An upload session holding ``data``; its id."""
    location = await start_upload(client, "library/app")
    r = await client.patch(location, content=data)
    assert r.status_code == 202, r.text
    return urlsplit(location).path.rsplit("/", 1)[-1]


async def age(registry: Registry, upload_ids: list[str], hours: float) -> None:
    async with registry.db.write() as conn:
        await conn.execute(
            update(UploadSession)
            .where(UploadSession.id.in_(upload_ids))
            .values(updated_at=utcnow() - timedelta(hours=hours))
        )


def stored_files(settings: Settings, upload_id: str) -> list[str]:
    """What the blob store holds for an upload: files, or S3 objects."""
    return [key for key in stored_keys(settings) if upload_id in key]


async def test_abandoned_uploads_are_purged_and_live_ones_kept(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    abandoned = [await open_upload(client, b"left behind %d" % n) for n in range(2)]
    live = await open_upload(client, b"still ")
    writing = await open_upload(client, b"one long chunk")
    assert all(stored_files(settings, u) for u in [*abandoned, live, writing])
    await age(registry, abandoned, hours=25)
    await age(registry, [live], hours=23)  # idle, but not for a whole day yet
    await age(registry, [writing], hours=25)
    # ... but a request holds its write lease: a chunk is streaming in right now.
    async with registry.db.write() as conn:
        await conn.execute(
            update(UploadSession)
            .where(UploadSession.id == writing)
            .values(writer="a" * 32, lease_until=utcnow() + timedelta(minutes=1))
        )

    job = await run(registry)
    assert (job.status, job.result) == ("succeeded", {"purged": 2, "max_idle_hours": 24.0})
    assert (job.progress.done, job.progress.total) == (2, 2)
    for upload_id in abandoned:
        r = await client.get(f"/v2/library/app/blobs/uploads/{upload_id}")
        assert r.status_code == 404
        assert stored_files(settings, upload_id) == []
    assert stored_files(settings, writing)
    # The live session goes on and completes.
    r = await client.get(f"/v2/library/app/blobs/uploads/{live}")
    assert r.status_code == 204
    r = await client.put(
        f"/v2/library/app/blobs/uploads/{live}",
        params={"digest": digest_of(b"still here")},
        content=b"here",
    )
    assert r.status_code == 201, r.text

    # Run twice: nothing left to do.
    again = await run(registry)
    assert (again.status, again.result) == ("succeeded", {"purged": 0, "max_idle_hours": 24.0})


async def test_the_payload_sets_the_age_and_a_bad_one_fails_at_once(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    upload_id = await open_upload(client, b"an hour old")
    await age(registry, [upload_id], hours=1)
    job = await run(registry, {"max_idle_hours": 0.5})
    assert job.result == {"purged": 1, "max_idle_hours": 0.5}

    bad = await run(registry, {"max_idle_hours": "soon"})
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert bad.error == "max_idle_hours must be a positive number of hours"


async def test_the_purge_is_scheduled_daily_by_default(registry: Registry) -> None:
    runner = registry.job_runner()
    await runner.start()
    await runner.stop()
    schedule = await registry.schedules.get_by_name("uploads-purge")
    assert (schedule.kind, schedule.cron, schedule.enabled) == (UPLOADS_PURGE, "0 0 3 * * *", True)
    assert schedule.next_run_at is not None
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 0)
    assert schedule.next_run_at - utcnow() <= timedelta(days=1)
