"""/api/v2.0/jobs and /api/v2.0/schedules: system admins only; bad input 400, unknown ids 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.blobs.purge import UPLOADS_PURGE
from dockyard.registry import JOB_KINDS, Registry

JOBS = "/api/v2.0/jobs"
SCHEDULES = "/api/v2.0/schedules"


def message(response: httpx.Response) -> str:
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors[0]["message"]


async def test_jobs_list_filter_page_and_show(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    ids = [await registry.jobs.enqueue(UPLOADS_PURGE, {"max_idle_hours": n + 1}) for n in range(3)]
    other = await registry.jobs.enqueue("test.other")
    claim = await registry.jobs.claim("w1")
    assert claim is not None
    assert claim.job.id == ids[0]
    await registry.jobs.progress(claim.lease, 5, 8, "five of eight")

    r = await client.get(JOBS, params={"page_size": 2})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "4"
    assert [j["id"] for j in r.json()] == [other, ids[2]]
    assert 'rel="next"' in r.headers["Link"]
    r = await client.get(JOBS, params={"kind": UPLOADS_PURGE})
    assert [j["id"] for j in r.json()] == ids[::-1]
    r = await client.get(JOBS, params={"status": "running"})
    assert [j["id"] for j in r.json()] == [ids[0]]

    r = await client.get(f"{JOBS}/{ids[0]}")
    assert r.status_code == 200
    job: dict[str, Any] = r.json()
    assert job["kind"] == UPLOADS_PURGE
    assert job["status"] == "running"
    assert job["payload"] == {"max_idle_hours": 1}
    assert (job["attempts"], job["max_attempts"], job["worker"]) == (1, 3, "w1")
    assert job["progress"] == {"done": 5, "total": 8, "message": "five of eight"}
    assert job["result"] is None
    assert job["error"] is None
    assert job["start_time"]
    assert job["heartbeat_time"]
    assert job["end_time"] is None

    await registry.jobs.succeed(claim.lease, {"purged": 3})
    done = (await client.get(f"{JOBS}/{ids[0]}")).json()
    assert (done["status"], done["result"]) == ("succeeded", {"purged": 3})
    assert done["end_time"]


async def test_cancel_a_job(client: httpx.AsyncClient, registry: Registry) -> None:
    queued = await registry.jobs.enqueue("test.a")
    running = await registry.jobs.enqueue("test.a")
    finished = await registry.jobs.enqueue("test.a")
    # One job in each state that a cancel meets: cancelled already, running, failed.
    await registry.jobs.cancel(queued)
    claim = await registry.jobs.claim("w")
    assert claim is not None
    assert claim.job.id == running
    other = await registry.jobs.claim("w")
    assert other is not None
    assert other.job.id == finished
    await registry.jobs.fail(other.lease, "broken", retry=False)

    again = await registry.jobs.enqueue("test.a")
    r = await client.post(f"{JOBS}/{again}/cancel")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["end_time"] is not None) == ("cancelled", True)
    r = await client.post(f"{JOBS}/{queued}/cancel")
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    r = await client.post(f"{JOBS}/{running}/cancel")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["cancel_requested"]) == ("running", True)
    assert await registry.jobs.heartbeat(claim.lease) is True
    r = await client.post(f"{JOBS}/{finished}/cancel")
    assert r.status_code == 409
    assert "has failed" in message(r)


async def test_jobs_bad_input_and_unknown_ids(client: httpx.AsyncClient) -> None:
    for url, params in (
        (JOBS, {"status": "sleeping"}),
        (JOBS, {"kind": "x" * 65}),
        (JOBS, {"page_size": 0}),
        (f"{JOBS}/0", {}),
        (f"{JOBS}/{2**60}", {}),
    ):
        r = await client.get(url, params=params)
        assert r.status_code == 400, (url, params, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    for response in (
        await client.get(f"{JOBS}/12345"),
        await client.post(f"{JOBS}/12345/cancel"),
        await client.get(f"{JOBS}/abc"),
    ):
        assert response.status_code == 404, response.text
    assert message(await client.get(f"{JOBS}/12345")) == "job 12345 not found"


async def test_schedules_crud(client: httpx.AsyncClient) -> None:
    body = {"name": "hourly-purge", "kind": UPLOADS_PURGE, "cron": "0 0 * * * *"}
    r = await client.post(SCHEDULES, json={**body, "payload": {"max_idle_hours": 2}})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"{SCHEDULES}/{created['id']}"
    assert (created["name"], created["cron"], created["enabled"]) == (
        "hourly-purge",
        "0 0 * * * *",
        True,
    )
    assert created["payload"] == {"max_idle_hours": 2}
    assert created["next_run_time"]
    assert created["last_run_time"] is None

    r = await client.post(SCHEDULES, json=body)
    assert r.status_code == 409

    r = await client.get(SCHEDULES)
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "1"
    assert [s["name"] for s in r.json()] == ["hourly-purge"]
    r = await client.get(f"{SCHEDULES}/{created['id']}")
    assert r.json() == created

    r = await client.put(f"{SCHEDULES}/{created['id']}", json={"enabled": False})
    assert r.status_code == 200
    assert (r.json()["enabled"], r.json()["next_run_time"]) == (False, None)
    r = await client.put(
        f"{SCHEDULES}/{created['id']}", json={"cron": "*/5 * * * *", "enabled": True}
    )
    assert (r.json()["cron"], r.json()["enabled"]) == ("*/5 * * * *", True)
    assert r.json()["next_run_time"]

    r = await client.delete(f"{SCHEDULES}/{created['id']}")
    assert r.status_code == 200
    for response in (
        await client.get(f"{SCHEDULES}/{created['id']}"),
        await client.put(f"{SCHEDULES}/{created['id']}", json={"enabled": True}),
        await client.delete(f"{SCHEDULES}/{created['id']}"),
    ):
        assert response.status_code == 404
    assert (await client.get(SCHEDULES)).json() == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "x", "kind": UPLOADS_PURGE, "cron": "every day"}, "cron expression"),
        ({"name": "x", "kind": UPLOADS_PURGE, "cron": "61 * * * *"}, "cron expression"),
        ({"name": "x", "kind": "no.such.kind", "cron": "0 3 * * *"}, "unknown job kind"),
        ({"name": "Bad Name", "kind": UPLOADS_PURGE, "cron": "0 3 * * *"}, "name"),
        ({"name": "x", "kind": UPLOADS_PURGE, "cron": "0 3 * * *", "enabled": "yes"}, "enabled"),
        ({"name": "x", "kind": UPLOADS_PURGE, "cron": "0 3 * * *", "payload": [1]}, "payload"),
        ({"name": "x", "kind": UPLOADS_PURGE}, "cron"),
        (
            {
                "name": "x",
                "kind": UPLOADS_PURGE,
                "cron": "0 3 * * *",
                "payload": {"n": "x" * 70_000},
            },
            "larger than 65536 bytes",
        ),
    ],
)
async def test_schedules_bad_input(
    client: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    r = await client.post(SCHEDULES, json=body)
    assert r.status_code == 400, r.text
    assert says in message(r)
    created = await client.post(
        SCHEDULES, json={"name": "ok", "kind": UPLOADS_PURGE, "cron": "0 3 * * *"}
    )
    r = await client.put(f"{SCHEDULES}/{created.json()['id']}", json={"cron": "0 0 25 * * *"})
    assert r.status_code == 400
    assert "cron expression" in message(r)


async def test_payloads_keep_any_json_and_odd_expressions_are_kept(
    client: httpx.AsyncClient,
) -> None:
    payload = {"n": 2**70, "text": "nul \u0000 and \U0001f680", "deep": [[{"x": None}]]}
    body = {"name": "x", "kind": UPLOADS_PURGE, "cron": "0  0 0 30 2 *", "payload": payload}
    r = await client.post(SCHEDULES, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["payload"] == payload
    # February 30th never comes: valid, and never fires. Spaces are normalised.
    assert (created["cron"], created["next_run_time"]) == ("0 0 0 30 2 *", None)


def test_the_schema_lists_the_job_kinds_the_registry_runs(registry: Registry) -> None:
    assert list(JOB_KINDS) == registry.job_handlers.kinds()


async def test_only_system_admins_see_jobs_and_schedules(
    anonymous: httpx.AsyncClient, developer: httpx.AsyncClient, registry: Registry
) -> None:
    job_id = await registry.jobs.enqueue("test.a")
    schedule = await registry.schedules.create("nightly", UPLOADS_PURGE, "0 0 3 * * *")
    body = {"name": "mine", "kind": UPLOADS_PURGE, "cron": "0 3 * * *"}
    calls = [
        ("GET", JOBS, None),
        ("GET", f"{JOBS}/{job_id}", None),
        ("POST", f"{JOBS}/{job_id}/cancel", None),
        ("GET", SCHEDULES, None),
        ("POST", SCHEDULES, body),
        ("GET", f"{SCHEDULES}/{schedule.id}", None),
        ("PUT", f"{SCHEDULES}/{schedule.id}", {"enabled": False}),
        ("DELETE", f"{SCHEDULES}/{schedule.id}", None),
    ]
    for caller, status in ((anonymous, 401), (developer, 403)):
        for method, url, json in calls:
            r = await caller.request(method, url, json=json)
            assert r.status_code == status, (method, url, r.text)
    # Nothing changed.
    assert (await registry.jobs.get(job_id)).status == "queued"
    assert (await registry.schedules.get(schedule.id)).enabled is True
    assert (await registry.schedules.search())[1] == 1
