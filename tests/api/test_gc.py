"""/api/v2.0/system/gc as Harbor clients drive it: run now (and dry runs), the history with
figures, progress and log, stop, and the schedule; system admins only, bad input 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.blobs.purge import UPLOADS_PURGE
from dockyard.registry import Registry
from tests.jobs.conftest import eventually, working
from tests.oci.helpers import push_blob, push_image

GC = "/api/v2.0/system/gc"


async def run_now(client: httpx.AsyncClient, **parameters: Any) -> httpx.Response:
    return await client.post(
        f"{GC}/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters}
    )


async def finished(client: httpx.AsyncClient, registry: Registry, location: str) -> dict[str, Any]:
    """Work the queue until the run at ``location`` has ended; the run as the API shows it."""

    async def ended() -> bool:
        r = await client.get(location)
        return bool(r.json()["end_time"])

    async with working(registry.jobs, registry.job_handlers, registry.settings.jobs):
        await eventually(ended, what="the run ending")
    run: dict[str, Any] = (await client.get(location)).json()
    return run


async def test_a_dry_run_then_a_run_and_their_history(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/app", "v1", layers=(b"kept",))
    orphan = await push_blob(client, "library/app", b"orphaned bytes")

    r = await run_now(client, dry_run=True, grace_minutes=0)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location == f"{GC}/{r.json()['id']}"
    assert r.json()["job_status"] == "Pending"
    dry = await finished(client, registry, location)
    assert dry["job_status"] == "Success"
    assert dry["job_kind"] == "MANUAL"
    assert dry["result"]["dry_run"] is True
    assert dry["result"]["blobs_deleted"] == 1
    assert dry["result"]["bytes_freed"] == len(b"orphaned bytes")
    assert (await client.head(f"/v2/library/app/blobs/{orphan}")).status_code == 200

    r = await run_now(client, grace_minutes=0, workers=3)
    real = await finished(client, registry, r.headers["Location"])
    assert real["result"]["dry_run"] is False
    assert real["result"]["blobs_deleted"] == 1
    assert real["progress"]["done"] >= 1
    assert '"grace_minutes": 0' in real["job_parameters"]
    assert (await client.head(f"/v2/library/app/blobs/{orphan}")).status_code == 404

    r = await client.get(GC, params={"page_size": 1})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "2"
    assert [run["id"] for run in r.json()] == [real["id"]]
    log = await client.get(f"{location.replace(str(dry['id']), str(real['id']))}/log")
    assert log.status_code == 200
    assert log.headers["content-type"].startswith("text/plain")
    assert "deleted 0 untagged artifacts, 1 blobs (14 bytes)" in log.text
    assert "status: succeeded" in log.text
    dry_log = (await client.get(f"{location}/log")).text
    assert "would delete" in dry_log


async def test_a_queued_run_stops_and_only_runs_are_found_here(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    r = await run_now(client)
    run_id = r.json()["id"]
    r = await client.put(f"{GC}/{run_id}")
    assert r.status_code == 200
    assert r.json()["job_status"] == "Stopped"
    other = await registry.jobs.enqueue(UPLOADS_PURGE)
    assert (await client.get(f"{GC}/{other}")).status_code == 404
    assert (await client.put(f"{GC}/{other}")).status_code == 404
    assert (await client.get(f"{GC}/999999")).status_code == 404
    assert (await client.get(f"{GC}/{other}/log")).status_code == 404


async def test_the_schedule_presets_custom_and_none(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{GC}/schedule")
    assert r.status_code == 200
    assert r.json()["schedule"]["type"] == "None"

    body = {"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": True}}
    r = await client.put(f"{GC}/schedule", json=body)
    assert r.status_code == 200, r.text
    shown = (await client.get(f"{GC}/schedule")).json()
    assert shown["schedule"]["type"] == "Daily"
    assert shown["schedule"]["cron"] == "0 0 0 * * *"
    assert shown["schedule"]["next_scheduled_time"]
    assert shown["parameters"] == {"delete_untagged": True, "dry_run": False}

    body = {"schedule": {"type": "Custom", "cron": "0 30 2 * * 6"}}
    r = await client.post(f"{GC}/schedule", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["schedule"] == {
        "type": "Custom",
        "cron": "0 30 2 * * 6",
        "next_scheduled_time": r.json()["schedule"]["next_scheduled_time"],
    }
    r = await client.put(f"{GC}/schedule", json={"schedule": {"type": "None"}})
    assert r.json()["schedule"]["type"] == "None"
    assert r.json()["schedule"]["next_scheduled_time"] is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"schedule": {"type": "Custom"}}, "cron"),
        ({"schedule": {"type": "Custom", "cron": "every day"}}, "cron"),
        ({"schedule": {"type": "None", "cron": "AAA"}}, "cron"),
        ({"schedule": {"type": "Manual"}}, "Manual"),
        ({"schedule": {"type": "Sometimes"}}, "type"),
        ({"schedule": {"type": "Daily"}, "parameters": {"grace_minutes": -1}}, "grace_minutes"),
        ({"schedule": {"type": "Daily"}, "parameters": {"dry_run": "yes"}}, "dry_run"),
        ({"schedule": {"type": "Daily"}, "parameters": {"workers": 9}}, "workers"),
    ],
)
async def test_bad_schedules_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any], reason: str
) -> None:
    r = await client.put(f"{GC}/schedule", json=body)
    assert r.status_code == 400, r.text
    assert reason in r.text
    assert (await client.get(f"{GC}/schedule")).json()["schedule"]["type"] == "None"


async def test_only_system_admins_collect(
    developer: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    for caller, status in [(developer, 403), (anonymous, 401)]:
        assert (await run_now(caller)).status_code == status
        assert (await caller.get(GC)).status_code == status
        assert (await caller.get(f"{GC}/schedule")).status_code == status
        r = await caller.put(f"{GC}/schedule", json={"schedule": {"type": "Daily"}})
        assert r.status_code == status
