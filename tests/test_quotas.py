"""Project quotas, on SQLite and files and on PostgreSQL and S3: usage counts each blob once per
project and each artifact, pushes over a limit are refused before their data is accepted
(QUOTA_EXCEED), and the kept usage equals a recount from scratch after a long mixed
workload and after concurrent pushes through two replicas."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from dockyard.app import create_app
from dockyard.blobs.gc import GC_RUN
from dockyard.events.models import Event
from dockyard.jobs.worker import Worker
from dockyard.projects.retention import Rule
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import (
    OCI_MANIFEST,
    assert_oci_error,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    start_upload,
)
from tests.servers import ADMIN_PASSWORD
from tests.stored import stored_copies

QUOTAS = "/api/v2.0/quotas"


async def usage(registry: Registry, project: str) -> tuple[int, int]:
    """(bytes, artifacts) as kept, checked against a recount from scratch."""
    info = await registry.quotas.get((await registry.projects.get(project)).id)
    kept = (info.storage_used, info.artifact_count)
    assert kept == await registry.quotas.recompute(info.project_id), project
    return kept


async def limit(registry: Registry, project: str, **limits: int) -> None:
    await registry.quotas.set_limits((await registry.projects.get(project)).id, **limits)


async def quota_events(registry: Registry) -> list[dict[str, Any]]:
    async with registry.db.read() as conn:
        rows = (
            await conn.execute(
                select(Event.resource, Event.detail).where(Event.operation == "quota_exceed")
            )
        ).all()
    return [{"project": r.resource, "detail": r.detail} for r in rows]


async def test_a_blob_counts_once_per_project_and_each_artifact_counts(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"x" * 1000
    first, _ = await push_image(client, "library/one", "v1", config=config, layers=(layer,))
    assert await usage(registry, "library") == (len(config) + len(layer), 1)
    # The same blobs in a second repository of the project: counted once; a second artifact.
    await push_image(client, "library/two", "v1", config=config, layers=(layer,))
    assert await usage(registry, "library") == (len(config) + len(layer), 2)
    # Mounted into a third: nothing more.
    r = await client.post(
        "/v2/library/three/blobs/uploads/",
        params={"mount": digest_of(layer), "from": "library/one"},
    )
    assert r.status_code == 201
    assert await usage(registry, "library") == (len(config) + len(layer), 2)
    # Another project counts them for itself.
    await push_image(client, "team/app", "v1", config=config, layers=(layer,))
    assert await usage(registry, "team") == (len(config) + len(layer), 1)

    # Deleting: an artifact, then the repositories one by one; the bytes go with the last.
    r = await client.delete(f"/v2/library/one/manifests/{first}")
    assert r.status_code == 202
    assert await usage(registry, "library") == (len(config) + len(layer), 1)
    for name in ("one", "two", "three"):
        r = await client.delete(f"/api/v2.0/projects/library/repositories/{name}")
        assert r.status_code == 200, r.text
    assert await usage(registry, "library") == (0, 0)
    assert await usage(registry, "team") == (len(config) + len(layer), 1)


async def test_an_upload_over_the_storage_limit_is_refused_before_its_data(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    await limit(registry, "library", storage=1000)
    await push_blob(client, "library/app", b"a" * 600)
    big = b"b" * 600
    # Monolithic: refused on its Content-Length, before the body is read.
    r = await client.post(
        "/v2/library/app/blobs/uploads/", params={"digest": digest_of(big)}, content=big
    )
    assert_oci_error(r, 403, "DENIED")
    assert "quota exceeded" in r.json()["errors"][0]["message"]
    assert "storage limit of 1000 B" in r.json()["errors"][0]["message"]
    assert stored_copies(settings, digest_of(big)) == []
    # Chunked: a chunk that announces too much is refused before it is read.
    location = await start_upload(client, "library/app")
    r = await client.patch(location, content=big, headers={"Content-Length": str(len(big))})
    assert_oci_error(r, 403, "DENIED")
    # Chunked without lengths: refused, exactly, when it completes; nothing is kept.
    location = await start_upload(client, "library/app")

    async def chunks() -> AsyncIterator[bytes]:
        yield big

    r = await client.put(location, params={"digest": digest_of(big)}, content=chunks())
    assert_oci_error(r, 403, "DENIED")
    assert stored_copies(settings, digest_of(big)) == []
    assert (await client.head(f"/v2/library/app/blobs/{digest_of(big)}")).status_code == 404
    assert await usage(registry, "library") == (600, 0)
    events = await quota_events(registry)
    assert len(events) == 3
    assert {e["project"] for e in events} == {"library"}
    # What fits still goes in; a blob the project holds already costs nothing.
    await push_blob(client, "library/app", b"c" * 400)
    await push_blob(client, "library/other", b"a" * 600)
    assert await usage(registry, "library") == (1000, 0)
    # Other projects are not affected.
    await push_blob(client, "team/app", big)


async def test_a_mount_over_the_limit_is_refused(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest = await push_blob(client, "team/app", b"m" * 500)
    await limit(registry, "library", storage=100)
    r = await client.post(
        "/v2/library/app/blobs/uploads/", params={"mount": digest, "from": "team/app"}
    )
    assert_oci_error(r, 403, "DENIED")
    assert await usage(registry, "library") == (0, 0)


async def test_the_artifact_limit(client: httpx.AsyncClient, registry: Registry) -> None:
    await limit(registry, "library", count=1)
    await push_image(client, "library/app", "v1", layers=(b"one",))
    await push_blob(client, "library/app", b"two")
    body = image_manifest(b'{"architecture":"amd64","os":"linux"}', [b"two"])
    r = await put_manifest(client, "library/app", "v2", body)
    assert_oci_error(r, 403, "DENIED")
    assert "limit of 1 artifacts" in r.json()["errors"][0]["message"]
    assert (await client.get("/v2/library/app/manifests/v2")).status_code == 404
    # The same manifest again, and another tag on it: no new artifact.
    first = image_manifest(b'{"architecture":"amd64","os":"linux"}', [b"one"])
    assert (await put_manifest(client, "library/app", "v1", first)).status_code == 201
    assert (await put_manifest(client, "library/app", "latest", first)).status_code == 201
    assert await usage(registry, "library") == (
        len(b'{"architecture":"amd64","os":"linux"}') + len(b"one") + len(b"two"),
        1,
    )
    await limit(registry, "library", count=-1)
    assert (await put_manifest(client, "library/app", "v2", body)).status_code == 201


async def test_garbage_collection_gives_the_space_back(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/app", "v1", layers=(b"old" * 100,))
    await push_image(client, "library/app", "v1", layers=(b"new" * 100,))
    await push_blob(client, "library/app", b"orphan" * 100)
    before = await usage(registry, "library")
    await _collect(registry, delete_untagged=True)
    after = await usage(registry, "library")
    assert after == (before[0] - 300 - 600, 1)


async def _collect(registry: Registry, **payload: Any) -> dict[str, Any]:
    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    job_id = await registry.jobs.enqueue(GC_RUN, {"grace_minutes": 0, **payload})
    assert await worker.run_one(job_id)
    job = await registry.jobs.get(job_id)
    assert job.status == "succeeded", job.error
    result: dict[str, Any] = job.result
    return result


async def test_usage_stays_exact_through_a_long_mixed_workload(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """Pushes with shared layers, mounts, copies, tag and artifact deletions, blob deletions,
    repository deletions, garbage collections and retention runs, at random; the kept usage
    of each project equals a recount at every tenth step and at the end."""
    for project in ("library", "team"):
        await registry.retention.create(
            (await registry.projects.get(project)).id,
            [Rule("latestPushedK", 3, untagged=True)],
        )
    rng = random.Random(5)
    layers = [b"layer %d " % n * (n * 40 + 1) for n in range(12)]
    repositories = [f"{p}/r{n}" for p in ("library", "team") for n in range(3)]
    pushed: dict[str, list[str]] = {name: [] for name in repositories}
    for step in range(150):
        name = rng.choice(repositories)
        action = rng.random()
        if action < 0.45:
            chosen = tuple(rng.sample(layers, rng.randint(1, 3)))
            config = encode({"architecture": "amd64", "os": "linux", "step": step})
            digest, _ = await push_image(
                client, name, f"t{rng.randint(0, 3)}", config=config, layers=chosen
            )
            pushed[name].append(digest)
        elif action < 0.55:
            source = rng.choice(repositories)
            r = await client.post(
                f"/v2/{name}/blobs/uploads/",
                params={"mount": digest_of(rng.choice(layers)), "from": source},
            )
            assert r.status_code in (201, 202), r.text
        elif action < 0.65 and pushed[name]:
            r = await client.delete(f"/v2/{name}/manifests/{rng.choice(pushed[name])}")
            assert r.status_code in (202, 404), r.text
        elif action < 0.72:
            r = await client.delete(f"/v2/{name}/manifests/t{rng.randint(0, 3)}")
            assert r.status_code in (202, 404), r.text
        elif action < 0.78:
            r = await client.delete(f"/v2/{name}/blobs/{digest_of(rng.choice(layers))}")
            assert r.status_code in (202, 404, 405), r.text
        elif action < 0.86 and pushed[name]:
            target = rng.choice(repositories)
            project, repo = target.split("/")
            r = await client.post(
                f"/api/v2.0/projects/{project}/repositories/{repo}/artifacts",
                params={"from": f"{name}@{rng.choice(pushed[name])}"},
            )
            assert r.status_code in (201, 404), r.text
        elif action < 0.92:
            project, repo = name.split("/")
            r = await client.delete(f"/api/v2.0/projects/{project}/repositories/{repo}")
            assert r.status_code in (200, 404), r.text
            pushed[name] = []
        elif action < 0.96:
            await _collect(registry, delete_untagged=rng.random() < 0.5)
        else:
            project = (await registry.projects.get(name.split("/")[0])).id
            policy = await registry.retention.of_project(project)
            assert policy is not None
            worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs)
            run = await registry.retention.start(policy.id, dry_run=False)
            assert await worker.run_one(run.id)
            assert (await registry.jobs.get(run.id)).status == "succeeded"
        if step % 10 == 9:
            for project in ("library", "team"):
                await usage(registry, project)
    for project in ("library", "team"):
        await usage(registry, project)


async def test_usage_stays_exact_under_concurrent_pushes_through_two_replicas(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    """A second app on the same database and store is another replica; both push the same
    layers into different repositories of one project at once."""
    other_app = create_app(settings)
    transport = httpx.ASGITransport(app=other_app)
    shared = [b"shared %d " % n * 300 for n in range(4)]
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://replica.test", auth=("admin", ADMIN_PASSWORD)
        ) as other:

            async def pusher(c: httpx.AsyncClient, n: int) -> None:
                for k in range(6):
                    config = encode({"architecture": "amd64", "os": "linux", "n": n, "k": k})
                    own = b"own %d %d " % (n, k) * 50
                    layers = (shared[k % 4], shared[(k + n) % 4], own)
                    await push_image(c, f"library/p{n}", f"v{k}", config=config, layers=layers)

            await asyncio.gather(*(pusher(c, n) for n, c in enumerate([client, other] * 2)))
    finally:
        await other_app.state.registry.close()
    storage, count = await usage(registry, "library")
    assert count == 24
    assert storage >= sum(len(s) for s in shared)


async def test_quotas_through_the_api(client: httpx.AsyncClient, registry: Registry) -> None:
    await push_image(client, "library/app", "v1", layers=(b"q" * 100,))
    library = (await registry.projects.get("library")).id
    r = await client.get(QUOTAS, params={"reference": "project", "reference_id": library})
    assert r.status_code == 200
    [quota] = r.json()
    assert quota["ref"] == {"id": library, "name": "library"}
    assert quota["hard"] == {"storage": -1, "count": -1}
    assert quota["used"]["count"] == 1
    assert quota["used"]["storage"] == (await usage(registry, "library"))[0]

    r = await client.put(f"{QUOTAS}/{library}", json={"hard": {"storage": 10_000, "count": 5}})
    assert r.status_code == 200, r.text
    assert r.json()["hard"] == {"storage": 10_000, "count": 5}
    summary = (await client.get("/api/v2.0/projects/library/summary")).json()
    assert summary["quota"]["hard"] == {"storage": 10_000, "count": 5}
    assert summary["quota"]["used"]["count"] == 1

    for body in ({"hard": {"storage": -2}}, {"hard": {"count": "many"}}, {"hard": 5}):
        r = await client.put(f"{QUOTAS}/{library}", json=body)
        assert r.status_code == 400, body
    assert (await client.get(f"{QUOTAS}/999999")).status_code == 404
    assert (await client.put(f"{QUOTAS}/999999", json={"hard": {"count": 1}})).status_code == 404

    await registry.users.create("dev", "Member-Secret-1")
    async with httpx.AsyncClient(
        transport=client._transport,
        base_url="http://registry.test",
        auth=("dev", "Member-Secret-1"),
    ) as developer:
        assert (await developer.get(QUOTAS)).status_code == 403
        r = await developer.put(f"{QUOTAS}/{library}", json={"hard": {"count": -1}})
        assert r.status_code == 403


async def test_manifests_by_digest_count_as_artifacts(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    config = b'{"architecture":"arm64","os":"linux"}'
    await push_blob(client, "library/app", config)
    await push_blob(client, "library/app", b"arm")
    body = encode(image_manifest(config, [b"arm"]))
    r = await put_manifest(client, "library/app", digest_of(body), body, OCI_MANIFEST)
    assert r.status_code == 201
    assert (await usage(registry, "library"))[1] == 1
