"""Garbage collection (``gc.run``) through the real app's services, on SQLite and files and on
PostgreSQL and S3: what goes, what stays, dry runs, grace periods, crash recovery, and a
push that holds its rows while a run goes on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from dockyard.artifacts.manifests import parse_manifest
from dockyard.blobs.gc import GC_RUN
from dockyard.blobs.models import Blob, RepositoryBlob, UploadSession
from dockyard.db.base import utcnow
from dockyard.jobs.queue import JobInfo
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.jobs.conftest import run_job
from tests.oci.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    start_upload,
)
from tests.stored import stored_copies

NOW = {"grace_minutes": 0}


async def gc(registry: Registry, **payload: Any) -> dict[str, Any]:
    """Run a collection to the end; its result."""
    job = await run_job(registry, GC_RUN, {**NOW, **payload})
    assert job.status == "succeeded", job.error
    assert isinstance(job.result, dict)
    return job.result


async def pulls(client: httpx.AsyncClient, name: str, digest: str, data: bytes) -> bool:
    r = await client.get(f"/v2/{name}/blobs/{digest}")
    if r.status_code == 404:
        return False
    assert r.status_code in (200, 307), r.text
    if r.status_code == 307:
        r = await client.get(r.headers["Location"])
    assert r.content == data
    return True


async def backdate(registry: Registry, minutes: float) -> None:
    """Make every blob and manifest look ``minutes`` older than now."""
    from dockyard.artifacts.models import Manifest

    then = utcnow() - timedelta(minutes=minutes)
    async with registry.db.write() as conn:
        await conn.execute(update(Blob).values(used_at=then))
        await conn.execute(update(Manifest).values(created_at=then))


async def test_unreferenced_blobs_go_and_referenced_ones_stay(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    layer, config = b"kept layer", b'{"architecture":"amd64","os":"linux"}'
    await push_image(client, "library/app", "v1", config=config, layers=(layer,))
    orphans = [b"orphan one", b"orphan number two"]
    digests = [await push_blob(client, "library/app", data) for data in orphans]

    result = await gc(registry)

    assert result["blobs_deleted"] == 2
    assert result["bytes_freed"] == sum(len(d) for d in orphans)
    assert result["dry_run"] is False
    for digest in digests:
        assert_oci_error(await client.get(f"/v2/library/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        assert stored_copies(settings, digest) == []
    assert await pulls(client, "library/app", digest_of(layer), layer)
    assert await pulls(client, "library/app", digest_of(config), config)
    # A second run finds nothing more.
    assert (await gc(registry))["blobs_deleted"] == 0


async def test_the_grace_period_keeps_recent_blobs(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest = await push_blob(client, "library/app", b"just uploaded")
    result = await gc(registry, grace_minutes=60)
    assert result["blobs_deleted"] == 0
    assert await pulls(client, "library/app", digest, b"just uploaded")
    # The settings' default grace applies when a run names none: two hours.
    job = await run_job(registry, GC_RUN, {})
    assert job.result["grace_minutes"] == registry.settings.gc.grace_minutes == 120
    assert job.result["blobs_deleted"] == 0


async def test_a_head_of_an_unreferenced_blob_renews_its_grace(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """A client about to push a manifest HEADs a blob, finds it, and skips the upload: the
    blob must then outlive the grace period from that moment."""
    kept = await push_blob(client, "library/app", b"asked for again")
    gone = await push_blob(client, "library/app", b"forgotten")
    await backdate(registry, 90)
    assert (await client.head(f"/v2/library/app/blobs/{kept}")).status_code == 200

    result = await gc(registry, grace_minutes=60)

    assert result["blobs_deleted"] == 1
    assert await pulls(client, "library/app", kept, b"asked for again")
    assert not await pulls(client, "library/app", gone, b"forgotten")


async def test_a_dry_run_reports_what_a_run_removes_and_removes_nothing(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    await push_image(client, "library/app", "v1", layers=(b"base", b"old top"))
    await push_image(client, "library/app", "v1", layers=(b"base", b"new top"))  # v1 moves
    orphan = await push_blob(client, "library/other", b"orphan")

    dry = await gc(registry, dry_run=True, delete_untagged=True)

    assert dry["dry_run"] is True
    # The untagged first image, its own layer and the orphan; the shared base stays.
    assert dry["artifacts_deleted"] == 1
    assert dry["blobs_deleted"] == 2
    assert dry["bytes_freed"] == len(b"old top") + len(b"orphan")
    assert await pulls(client, "library/other", orphan, b"orphan")
    assert await pulls(client, "library/app", digest_of(b"old top"), b"old top")

    real = await gc(registry, delete_untagged=True)

    for key in ("artifacts_deleted", "blobs_deleted", "bytes_freed", "links_removed"):
        assert real[key] == dry[key], key
    assert stored_copies(settings, digest_of(b"old top")) == []
    assert await pulls(client, "library/app", digest_of(b"base"), b"base")
    assert await pulls(client, "library/app", digest_of(b"new top"), b"new top")


async def test_untagged_artifacts_go_only_when_asked(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    old, _ = await push_image(client, "library/app", "v1", layers=(b"old",))
    await push_image(client, "library/app", "v1", layers=(b"new",))

    assert (await gc(registry))["artifacts_deleted"] == 0
    assert (await client.get(f"/v2/library/app/manifests/{old}")).status_code == 200

    assert (await gc(registry, delete_untagged=True))["artifacts_deleted"] == 1
    assert_oci_error(await client.get(f"/v2/library/app/manifests/{old}"), 404, "MANIFEST_UNKNOWN")
    assert (await client.get("/v2/library/app/manifests/v1")).status_code == 200


async def test_an_index_keeps_its_children_and_an_untagged_index_goes_with_them(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    async def index(tag: str, arches: list[str]) -> tuple[str, list[str]]:
        children = []
        for arch in arches:
            config = encode({"architecture": arch, "os": "linux", "tag": tag})
            children.append(await _push_child(client, config, arch))
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, body) for _, body in children],
        }
        r = await put_manifest(client, "library/multi", tag, document, OCI_INDEX)
        assert r.status_code == 201, r.text
        return r.headers["Docker-Content-Digest"], [d for d, _ in children]

    kept, kept_children = await index("stable", ["amd64", "arm64"])
    dropped, dropped_children = await index("old", ["s390x", "ppc64le"])
    r = await client.delete("/v2/library/multi/manifests/old")  # untags the second index
    assert r.status_code == 202

    result = await gc(registry, delete_untagged=True)

    # The untagged index, then (a second wave) the children only it listed.
    assert result["artifacts_deleted"] == 3
    for digest in [kept, *kept_children]:
        assert (await client.head(f"/v2/library/multi/manifests/{digest}")).status_code == 200
    for digest in [dropped, *dropped_children]:
        assert (await client.head(f"/v2/library/multi/manifests/{digest}")).status_code == 404
    assert await pulls(client, "library/multi", digest_of(b"amd64"), b"amd64")
    assert not await pulls(client, "library/multi", digest_of(b"s390x"), b"s390x")


async def _push_child(client: httpx.AsyncClient, config: bytes, arch: str) -> tuple[str, bytes]:
    """An image pushed by digest only, as clients push the children of an index."""
    await push_blob(client, "library/multi", config)
    await push_blob(client, "library/multi", arch.encode())
    body = encode(image_manifest(config, [arch.encode()]))
    digest = digest_of(body)
    r = await put_manifest(client, "library/multi", digest, body)
    assert r.status_code == 201, r.text
    return digest, body


async def test_accessories_stay_with_their_subject_and_go_without_it(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    subject, subject_body = await push_image(client, "library/app", "v1", layers=(b"signed",))

    async def referrer(target: str, size: int, note: bytes) -> str:
        await push_blob(client, "library/app", b"{}")
        await push_blob(client, "library/app", note)
        document = image_manifest(
            b"{}",
            [note],
            artifactType="application/vnd.example.sbom",
            subject={"mediaType": OCI_MANIFEST, "digest": target, "size": size},
        )
        document["config"]["mediaType"] = "application/vnd.oci.empty.v1+json"
        body = encode(document)
        r = await put_manifest(client, "library/app", digest_of(body), body)
        assert r.status_code == 201, r.text
        return digest_of(body)

    sbom = await referrer(subject, len(subject_body), b"sbom of v1")
    # An untagged subject with a referrer stays too: something still refers to it.
    r = await client.delete("/v2/library/app/manifests/v1")
    assert r.status_code == 202

    result = await gc(registry, delete_untagged=True)
    assert result["artifacts_deleted"] == 0
    assert (await client.head(f"/v2/library/app/manifests/{sbom}")).status_code == 200

    # Once the subject is deleted, its accessory is garbage.
    r = await client.delete(f"/v2/library/app/manifests/{subject}")
    assert r.status_code == 202
    result = await gc(registry, delete_untagged=True)
    assert result["artifacts_deleted"] == 1
    assert (await client.head(f"/v2/library/app/manifests/{sbom}")).status_code == 404
    assert not await pulls(client, "library/app", digest_of(b"sbom of v1"), b"sbom of v1")


async def test_recent_untagged_artifacts_stay(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """An index's children arrive by digest, untagged, before the index: the grace period
    covers them as it covers blobs."""
    digest, _ = await _push_child(client, b'{"architecture":"arm64","os":"linux"}', "arm")
    result = await gc(registry, delete_untagged=True, grace_minutes=30)
    assert result["artifacts_deleted"] == 0
    assert (await client.head(f"/v2/library/multi/manifests/{digest}")).status_code == 200
    await backdate(registry, 31)
    result = await gc(registry, delete_untagged=True, grace_minutes=30)
    assert result["artifacts_deleted"] == 1


async def test_a_repository_forgets_blobs_none_of_its_manifests_use(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    layer = b"shared layer"
    await push_image(client, "library/app", "v1", layers=(layer,))
    digest = await push_blob(client, "library/other", layer)  # pushed, never used there

    result = await gc(registry)

    assert result["links_removed"] == 1
    assert result["blobs_deleted"] == 0
    assert not await pulls(client, "library/other", digest, layer)
    assert await pulls(client, "library/app", digest, layer)


async def test_a_run_interrupted_after_marking_is_finished_by_the_next(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    """A crash between the two transactions leaves rows marked ``deleting``: nothing sees
    them, the next run removes them, and an upload of the same content brings one back."""
    gone = await push_blob(client, "library/app", b"marked, then crashed")
    back = await push_blob(client, "library/app", b"marked, then pushed again")
    async with registry.db.write() as conn:
        await conn.execute(update(Blob).values(deleting=True))
        await conn.execute(RepositoryBlob.__table__.delete())
    assert_oci_error(await client.get(f"/v2/library/app/blobs/{gone}"), 404, "BLOB_UNKNOWN")

    assert await push_blob(client, "library/app", b"marked, then pushed again") == back
    result = await gc(registry, grace_minutes=60)

    assert result["blobs_deleted"] == 1
    assert stored_copies(settings, gone) == []
    assert await pulls(client, "library/app", back, b"marked, then pushed again")
    async with registry.db.read() as conn:
        assert (await conn.scalars(select(Blob.digest))).all() == [back]


async def test_a_manifest_push_in_flight_keeps_what_it_references(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """A manifest PUT holds its blobs while its transaction is open; a run that starts
    meanwhile must not take them (on PostgreSQL it skips the held rows, on SQLite it waits
    for the single writer), and the push then succeeds and pulls."""
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"held layer"
    for data in (config, layer):
        await push_blob(client, "library/app", data)
    await backdate(registry, 10)
    body = encode(image_manifest(config, [layer]))
    manifests = registry.manifests
    started = asyncio.Event()
    release = asyncio.Event()

    async def push_slowly() -> None:
        async with registry.db.write() as conn:
            key = await manifests.repositories.ensure_key(conn, "library/app")
            await manifests.add(
                conn,
                key.id,
                digest_of(body),
                body,
                parse_manifest(body, None),
                project_id=key.project_id,
            )
            started.set()
            await release.wait()

    pusher = asyncio.create_task(push_slowly())
    await asyncio.wait_for(started.wait(), 10)
    collector = asyncio.create_task(gc(registry))
    await asyncio.sleep(0.5)
    release.set()
    await pusher
    await collector

    assert (await client.get(f"/v2/library/app/manifests/{digest_of(body)}")).status_code == 200
    assert await pulls(client, "library/app", digest_of(layer), layer)
    assert await pulls(client, "library/app", digest_of(config), config)
    assert (await gc(registry))["blobs_deleted"] == 0


async def test_a_push_after_its_blob_was_collected_is_refused_cleanly(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"collected layer"
    await push_blob(client, "library/app", config)
    await push_blob(client, "library/app", layer)
    await gc(registry)  # both unreferenced: both go
    r = await put_manifest(client, "library/app", "v1", image_manifest(config, [layer]))
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    # Pushing them again works as a first push does.
    await push_image(client, "library/app", "v1", config=config, layers=(layer,))
    assert await pulls(client, "library/app", digest_of(layer), layer)


async def test_abandoned_upload_sessions_go_with_a_run(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    location = await start_upload(client, "library/app")
    r = await client.patch(location, content=b"half a blob")
    assert r.status_code == 202
    async with registry.db.write() as conn:
        await conn.execute(update(UploadSession).values(updated_at=utcnow() - timedelta(days=2)))
    dry = await gc(registry, dry_run=True)
    assert dry["uploads_purged"] == 1
    assert (await gc(registry))["uploads_purged"] == 1
    assert_oci_error(await client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_bad_options_fail_the_run_with_a_reason(registry: Registry) -> None:
    for payload, reason in [
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"grace_minutes": "soon"}, "grace_minutes"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"delete_untagged": 1}, "delete_untagged"),
    ]:
        job: JobInfo = await run_job(registry, GC_RUN, payload)
        assert job.status == "failed", payload
        assert reason in (job.error or ""), job.error


async def test_progress_is_reported_and_a_cancelled_run_leaves_nothing_half_done(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    digests = [await push_blob(client, "library/app", b"blob %d" % n) for n in range(450)]
    job_id = await registry.jobs.enqueue(GC_RUN, NOW)
    seen: list[tuple[int, int | None]] = []
    original = registry.jobs.progress

    async def cancel_after_first_batch(lease: Any, done: int, total: int | None, message: Any):
        seen.append((done, total))
        if done >= 200:
            await registry.jobs.cancel(job_id)
        return await original(lease, done, total, message)

    registry.jobs.progress = cancel_after_first_batch  # type: ignore[method-assign]
    from tests.jobs.conftest import eventually, working

    async def finished() -> bool:
        return (await registry.jobs.get(job_id)).status in ("cancelled", "succeeded", "failed")

    async with working(registry.jobs, registry.job_handlers, registry.settings.jobs):
        await eventually(finished, what="the run ending")
    job = await registry.jobs.get(job_id)
    assert job.status == "cancelled"
    assert (200, 450) in seen
    async with registry.db.read() as conn:
        left = set((await conn.scalars(select(Blob.digest))).all())
        marked = (await conn.scalars(select(Blob.digest).where(Blob.deleting))).all()
    assert marked == []
    assert 0 < len(left) < 450
    for digest in digests:
        present = digest in left
        assert bool(stored_copies(settings, digest)) == present
