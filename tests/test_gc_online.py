"""Garbage collection while pushes go on, on SQLite and files and on PostgreSQL and S3:
nothing a push was told it stored is ever lost.

Pushers push as docker and podman do (HEAD each blob, mount it from another repository
when it is missing there, upload it otherwise, then PUT the manifest), with layers shared
between pushers, tags pushed again and again, indexes whose children arrive by digest
first, and deletions that make garbage. Meanwhile collections run back to back with a
grace period of two seconds, with and without the deletion of untagged artifacts.

A push may still be refused, cleanly (MANIFEST_BLOB_UNKNOWN, never acknowledged): when
its HEAD found a blob that only an untagged artifact referenced, and a collection took
both before its manifest PUT; or when the machine stalled it past the grace period.
The refusals are counted and must stay a minority. What the test asserts: no
request fails with a 5xx; every tag points at the manifest its last acknowledged push
stored, and that manifest, its children and all their blobs pull and verify; and no
manifest left in the registry references a blob that does not pull.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.blobs.gc import GC_RUN
from dockyard.jobs.worker import Worker
from dockyard.projects.models import Repository
from dockyard.registry import Registry
from tests.oci.helpers import OCI_INDEX, OCI_MANIFEST, descriptor, digest_of, encode, image_manifest

PUSHERS = 3
PUSHES = 14  # at least, each; they go on until the test has run for DURATION
DURATION = 6.0  # seconds
POOL = [b"shared layer %d " % n * 50 for n in range(6)]
# Two seconds: longer than a push takes here, much shorter than the test, so that what
# the pushers leave behind becomes garbage while they go on.
GRACE_MINUTES = 2 / 60


@dataclass
class Ledger:
    """What the pushers were told, and every response status they saw."""

    statuses: list[tuple[str, str, int]] = field(default_factory=list)
    # (repository, tag) -> the digest of the last acknowledged push of that tag.
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    # digest -> (manifest bytes, the blobs and child manifests it needs)
    manifests: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = field(default_factory=dict)
    acknowledged: int = 0
    refused: int = 0

    def saw(self, method: str, url: str, response: httpx.Response) -> httpx.Response:
        self.statuses.append((method, url, response.status_code))
        assert response.status_code < 500, (method, url, response.status_code, response.text)
        return response


class Pusher:
    def __init__(self, client: httpx.AsyncClient, ledger: Ledger, number: int) -> None:
        self.client = client
        self.ledger = ledger
        self.repository = f"library/p{number}"
        self.others = [f"library/p{n}" for n in range(PUSHERS) if n != number]
        self.random = random.Random(number)
        self.number = number

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self.ledger.saw(method, url, await self.client.request(method, url, **options))

    async def blob(self, data: bytes) -> None:
        digest = digest_of(data)
        base = f"/v2/{self.repository}/blobs"
        if (await self.request("HEAD", f"{base}/{digest}")).status_code == 200:
            return
        source = self.random.choice(self.others)
        r = await self.request("POST", f"{base}/uploads/", params={"mount": digest, "from": source})
        if r.status_code == 201:
            return
        assert r.status_code == 202, r.text
        r = await self.request(
            "PUT", r.headers["Location"], params={"digest": digest}, content=data
        )
        assert r.status_code == 201, r.text

    async def manifest(self, reference: str, body: bytes, media_type: str) -> str | None:
        """PUT a manifest; its digest if acknowledged, None if refused for a missing blob."""
        url = f"/v2/{self.repository}/manifests/{reference}"
        r = await self.request("PUT", url, content=body, headers={"Content-Type": media_type})
        if r.status_code == 201:
            self.ledger.acknowledged += 1
            return str(r.headers["Docker-Content-Digest"])
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN", r.text
        self.ledger.refused += 1
        return None

    async def image(self, n: int, reference: str | None) -> tuple[str, bytes] | None:
        config = encode({"architecture": "amd64", "os": "linux", "pusher": self.number, "n": n})
        layers = [*self.random.sample(POOL, 2), b"own layer %d/%d " % (self.number, n) * 30]
        for data in [config, *layers]:
            await self.blob(data)
        body = encode(image_manifest(config, layers))
        digest = await self.manifest(reference or digest_of(body), body, OCI_MANIFEST)
        if digest is None:
            return None
        self.ledger.manifests[digest] = (
            body,
            [(digest_of(d), d) for d in [config, *layers]],
        )
        return digest, body

    async def index(self, n: int, tag: str) -> str | None:
        children = []
        for arch in range(2):
            child = await self.image(n * 10 + arch, None)
            if child is None:
                return None
            children.append(child)
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, body) for _, body in children],
        }
        body = encode(document)
        digest = await self.manifest(tag, body, OCI_INDEX)
        if digest is not None:
            self.ledger.manifests[digest] = (body, [(d, b) for d, b in children])
        return digest

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DURATION
        n = -1
        while (n := n + 1) < PUSHES or loop.time() < deadline:
            tag = f"t{n % 3}"
            digest = await (self.index(n, tag) if n % 4 == 3 else self.image(n, tag))
            if isinstance(digest, tuple):
                digest = digest[0]
            if digest is not None:
                self.ledger.tags[(self.repository, tag)] = digest
            if n % 5 == 4:
                # Garbage: the tag goes (its artifact stays, untagged).
                gone = f"t{(n + 1) % 3}"
                r = await self.request("DELETE", f"/v2/{self.repository}/manifests/{gone}")
                assert r.status_code in (202, 404), r.text
                self.ledger.tags.pop((self.repository, gone), None)


async def collect_until(registry: Registry, done: asyncio.Event) -> list[dict[str, Any]]:
    """Collect back to back until ``done``; the runs' results."""
    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    results = []
    while not done.is_set() or not results:
        payload = {"grace_minutes": GRACE_MINUTES, "delete_untagged": len(results) % 2 == 1}
        job_id = await registry.jobs.enqueue(GC_RUN, payload, max_attempts=1)
        assert await worker.run_one(job_id)
        job = await registry.jobs.get(job_id)
        assert job.status == "succeeded", job.error
        results.append(job.result)
    return results


async def pull_verifies(
    client: httpx.AsyncClient, repository: str, digest: str, data: bytes
) -> None:
    r = await client.get(f"/v2/{repository}/blobs/{digest}")
    if r.status_code == 307:
        r = await client.get(r.headers["Location"])
    assert r.status_code == 200, (repository, digest, r.status_code)
    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
    assert r.content == data


async def test_collections_during_pushes_lose_nothing_acknowledged(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    ledger = Ledger()
    pushers = [Pusher(client, ledger, n) for n in range(PUSHERS)]
    done = asyncio.Event()
    collector = asyncio.create_task(collect_until(registry, done))
    await asyncio.gather(*(p.run() for p in pushers))
    done.set()
    results = await collector
    print(
        f"{ledger.acknowledged} pushes acknowledged, {ledger.refused} refused, "
        f"{len(ledger.statuses)} requests; {len(results)} collections deleted "
        f"{sum(r['artifacts_deleted'] for r in results)} artifacts and "
        f"{sum(r['blobs_deleted'] for r in results)} blobs"
    )

    assert ledger.acknowledged >= PUSHERS * PUSHES, (ledger.acknowledged, ledger.refused)
    assert ledger.refused <= ledger.acknowledged // 4, (ledger.acknowledged, ledger.refused)
    assert len(results) >= 2
    assert sum(r["blobs_deleted"] for r in results) > 0
    assert sum(r["artifacts_deleted"] for r in results) > 0

    # Every tag: the manifest of its last acknowledged push, whole.
    for (repository, tag), digest in ledger.tags.items():
        r = await client.get(
            f"/v2/{repository}/manifests/{tag}", headers={"Accept": f"{OCI_MANIFEST},{OCI_INDEX}"}
        )
        assert r.status_code == 200, (repository, tag)
        assert r.headers["Docker-Content-Digest"] == digest
        body, needs = ledger.manifests[digest]
        assert r.content == body
        for needed, content in needs:
            if needed in ledger.manifests:  # a child of an index
                child = await client.get(
                    f"/v2/{repository}/manifests/{needed}", headers={"Accept": OCI_MANIFEST}
                )
                assert child.status_code == 200, (repository, needed)
                assert child.content == content
                for blob, data in ledger.manifests[needed][1]:
                    await pull_verifies(client, repository, blob, data)
            else:
                await pull_verifies(client, repository, needed, content)

    # Nothing left behind references a blob that is gone.
    async with registry.db.read() as conn:
        rows = (
            await conn.execute(
                select(Repository.name, ManifestReference.digest)
                .join(Manifest, Manifest.id == ManifestReference.manifest_id)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(ManifestReference.kind == "blob")
            )
        ).all()
    assert rows
    for repository, digest in rows:
        r = await client.head(f"/v2/{repository}/blobs/{digest}")
        assert r.status_code == 200, (repository, digest)
