"""Several `dockyard serve` processes on one PostgreSQL database and one S3 bucket, as
they run behind a load balancer: whatever one replica accepts, every replica serves,
and a replica that dies mid-push leaves nothing half-written behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from dockyard.db import open_database
from dockyard.db.base import utcnow
from dockyard.jobs.models import Job
from dockyard.jobs.queue import JobQueue
from dockyard.settings import JobSettings, S3Settings
from tests.clients.conftest import Tools
from tests.clients.images import umoci_image
from tests.oci.helpers import push_image
from tests.postgres import PostgresServer
from tests.s3_server import S3Server
from tests.servers import ADMIN, DockyardServer

MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
pytestmark = pytest.mark.clients


@dataclass
class Cluster:
    a: DockyardServer
    b: DockyardServer
    database_url: str
    s3: S3Settings
    s3_server: S3Server
    root: Path

    def blob_keys(self, digest: str) -> list[str]:
        encoded = digest.split(":", 1)[1]
        return [k for k in self.s3_server.keys(self.s3.bucket, "blobs/") if k.endswith(encoded)]


def _environment(database_url: str, s3: S3Settings) -> dict[str, str]:
    return {
        "DOCKYARD_DATABASE__URL": database_url,
        **S3Server.environment(s3),
        # Quick schedules and quick take-over of a dead worker's jobs.
        "DOCKYARD_JOBS__POLL_SECONDS": "0.2",
        "DOCKYARD_JOBS__HEARTBEAT_SECONDS": "0.5",
        "DOCKYARD_JOBS__LEASE_SECONDS": "2",
    }


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, s3_server: S3Server
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    database_url = asyncio.run(postgres.new_database("replicas"))
    s3 = s3_server.settings()
    env = _environment(database_url, s3)
    a = DockyardServer(root / "a", env=env).start()
    b = DockyardServer(root / "b", env=env, projects=()).start()
    cluster = Cluster(a, b, database_url, s3, s3_server, root)
    yield cluster
    cluster.a.stop()
    cluster.b.stop()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _push_image(
    client: httpx.AsyncClient, repository: str, tag: str, layers: list[bytes]
) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    digest, _ = await push_image(client, repository, tag, config=config, layers=tuple(layers))
    return digest


def test_skopeo_pushes_through_one_replica_and_pulls_through_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    tools = Tools(tmp_path / "tools")
    for server in (cluster.a, cluster.b):
        tools.run(
            "skopeo", "login", "--tls-verify=false", "-u", ADMIN[0], "--password-stdin",
            server.host, input=ADMIN[1],
        )  # fmt: skip
    files = {"etc/motd": "served by any replica\n", "data.bin": "y" * 200_000}
    umoci_image(tools, tmp_path / "src", "v1", files)
    tools.run(
        "skopeo", "copy", "--dest-tls-verify=false",
        f"oci:{tmp_path / 'src'}:v1", f"docker://{cluster.a.host}/lib/spread:v1",
    )  # fmt: skip
    tools.run(
        "skopeo", "copy", "--src-tls-verify=false",
        f"docker://{cluster.b.host}/lib/spread:v1", f"oci:{tmp_path / 'back'}:v1",
    )  # fmt: skip
    pushed = json.loads((tmp_path / "src" / "index.json").read_text())["manifests"][0]
    pulled = json.loads((tmp_path / "back" / "index.json").read_text())["manifests"][0]
    assert pulled["digest"] == pushed["digest"]
    # A token that replica A issued is good at replica B: they share the signing key.
    token = httpx.get(
        f"{cluster.a.url}/service/token",
        params={"service": "dockyard", "scope": "repository:lib/spread:pull"},
        auth=ADMIN,
    ).json()["token"]
    r = httpx.get(
        f"{cluster.b.url}/v2/lib/spread/manifests/v1",
        headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
    )
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == pushed["digest"]


async def test_a_chunked_upload_moves_between_replicas(cluster: Cluster) -> None:
    """Chunks of one upload go to alternate replicas, across S3 part boundaries (5 MiB)."""
    chunks = [os.urandom(3 * MiB), os.urandom(6 * MiB), os.urandom(MiB), os.urandom(2 * MiB)]
    data = b"".join(chunks)
    async with (
        httpx.AsyncClient(base_url=cluster.a.url, auth=ADMIN, timeout=60) as a,
        httpx.AsyncClient(base_url=cluster.b.url, auth=ADMIN, timeout=60) as b,
    ):
        r = await a.post("/v2/lib/chunked/blobs/uploads/")
        assert r.status_code == 202
        location = r.headers["Location"]
        offset = 0
        for client, chunk in zip((a, b, a), chunks[:3], strict=True):
            r = await client.patch(
                location,
                content=chunk,
                headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
            )
            assert r.status_code == 202, r.text
            offset += len(chunk)
            # Every replica knows how far the upload got.
            for other in (a, b):
                status = await other.get(location)
                assert status.headers["Range"] == f"0-{offset - 1}"
        r = await b.put(location, params={"digest": _digest(data)}, content=chunks[3])
        assert r.status_code == 201, r.text
        r = await a.get(f"/v2/lib/chunked/blobs/{_digest(data)}")
        assert r.status_code == 200
        assert r.content == data
    assert len(cluster.blob_keys(_digest(data))) == 1


async def test_concurrent_pushes_over_both_replicas_lose_nothing(cluster: Cluster) -> None:
    shared = os.urandom(6 * MiB)  # more than one S3 part
    owns = [os.urandom(100_000 + i) for i in range(16)]
    limits = httpx.Limits(max_connections=8)
    async with (
        httpx.AsyncClient(base_url=cluster.a.url, auth=ADMIN, timeout=120, limits=limits) as a,
        httpx.AsyncClient(base_url=cluster.b.url, auth=ADMIN, timeout=120, limits=limits) as b,
    ):
        clients = [a, b]
        digests = await asyncio.gather(
            *[
                _push_image(clients[i % 2], f"lib/many{i % 3}", f"t{i}", [shared, own])
                for i, own in enumerate(owns)
            ]
        )
        for i, (own, digest) in enumerate(zip(owns, digests, strict=True)):
            reader = clients[(i + 1) % 2]  # read through the replica that did not push
            r = await reader.get(
                f"/v2/lib/many{i % 3}/manifests/t{i}", headers={"Accept": OCI_MANIFEST}
            )
            assert r.headers["Docker-Content-Digest"] == digest
            layers = [layer["digest"] for layer in r.json()["layers"]]
            assert layers == [_digest(shared), _digest(own)]
            r = await reader.get(f"/v2/lib/many{i % 3}/blobs/{_digest(own)}")
            assert r.content == own
        r = await b.get(f"/v2/lib/many0/blobs/{_digest(shared)}")
        assert r.content == shared
        tags = (await a.get("/v2/lib/many1/tags/list")).json()["tags"]
        assert tags == sorted(f"t{i}" for i in range(1, 16, 3))
    # The shared layer is stored once, and no upload was left behind.
    assert len(cluster.blob_keys(_digest(shared))) == 1
    assert cluster.s3_server.keys(cluster.s3.bucket, "uploads/") == []
    assert cluster.s3_server.multipart_uploads(cluster.s3.bucket) == []


def test_a_replica_killed_mid_push_leaves_nothing_and_the_retry_lands(
    cluster: Cluster,
) -> None:
    layer = os.urandom(24 * MiB)
    digest = _digest(layer)
    sent, resume = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        for start in range(0, len(layer), MiB):
            if start == 12 * MiB:
                sent.set()
                resume.wait(30)  # the replica dies meanwhile
            yield layer[start : start + MiB]

    outcome: list[object] = []

    def push() -> None:
        try:
            with httpx.Client(base_url=cluster.a.url, auth=ADMIN, timeout=60) as client:
                r = client.post("/v2/lib/killed/blobs/uploads/")
                outcome.append(
                    client.put(
                        r.headers["Location"], params={"digest": digest}, content=slow_body()
                    )
                )
        except httpx.TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    assert sent.wait(60)
    time.sleep(0.5)  # the first parts reach the bucket
    assert cluster.a.process is not None
    cluster.a.process.send_signal(signal.SIGKILL)
    cluster.a.process.wait()
    resume.set()
    thread.join(60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError), outcome

    with httpx.Client(base_url=cluster.b.url, auth=ADMIN, timeout=120) as b:
        # Nothing of the interrupted push is visible through the surviving replica.
        assert b.head(f"/v2/lib/killed/blobs/{digest}").status_code == 404
        assert cluster.blob_keys(digest) == []
        # The client's retry goes to the other replica and lands whole.
        asyncio.run(_retry(cluster.b.url, layer))
        r = b.get("/v2/lib/killed/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        r = b.get(f"/v2/lib/killed/blobs/{digest}")
        assert r.content == layer
    assert len(cluster.blob_keys(digest)) == 1
    # The killed replica comes back and serves it too.
    cluster.a.launch(30)
    r = httpx.get(f"{cluster.a.url}/v2/lib/killed/blobs/{digest}", auth=ADMIN, timeout=60)
    assert r.content == layer


async def _retry(url: str, layer: bytes) -> None:
    async with httpx.AsyncClient(base_url=url, auth=ADMIN, timeout=120) as client:
        await _push_image(client, "lib/killed", "v1", [layer])


def test_replicas_starting_together_migrate_once(postgres: PostgresServer) -> None:
    """Two `dockyard migrate` at once on an empty database: one upgrades, the other waits
    and finds nothing to do; neither fails."""
    url = asyncio.run(postgres.new_database("migrate_race"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    command = [sys.executable, "-m", "dockyard", "migrate", "--database-url", url]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(3)
    ]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output.decode()


def test_a_scheduled_run_fires_once_not_once_per_replica(cluster: Cluster) -> None:
    """Both replicas run the scheduler (every 0.2 s here); a run due in a few seconds
    becomes exactly one job."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    # Harbor's six fields, seconds first: that second of that day, once a year.
    cron = f"{due.second} {due.minute} {due.hour} {due.day} {due.month} *"
    r = httpx.post(
        f"{cluster.a.url}/api/v2.0/schedules",
        json={"name": "once-across-replicas", "kind": "uploads.purge", "cron": cron},
        auth=ADMIN,
    )
    assert r.status_code == 201, r.text
    schedule_id = r.json()["id"]
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
    jobs = [
        job
        for job in httpx.get(
            f"{cluster.b.url}/api/v2.0/jobs", params={"kind": "uploads.purge"}, auth=ADMIN
        ).json()
        if job["schedule_id"] == schedule_id
    ]
    assert len(jobs) == 1, jobs
    assert jobs[0]["status"] in ("queued", "running", "succeeded")


def test_a_job_held_by_a_dead_worker_is_retried_by_a_replica(cluster: Cluster) -> None:
    """A worker that died holding a job leaves it running with a heartbeat that stops;
    a replica's reaper takes it back after jobs.lease_seconds (2 s here) and a replica
    runs it."""

    async def leave_claimed() -> int:
        db = open_database(cluster.database_url)
        try:
            queue = JobQueue(db, JobSettings())
            async with db.write() as conn:
                job_id = await queue.add(conn, "uploads.purge", {})
                now = utcnow()
                await conn.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(
                        status="running",
                        claimed_by="killed-worker",
                        attempts=1,
                        heartbeat_at=now,
                        started_at=now,
                    )
                )
            return job_id
        finally:
            await db.dispose()

    job_id = asyncio.run(leave_claimed())
    deadline = time.monotonic() + 30
    job: dict[str, object] = {}
    while time.monotonic() < deadline:
        job = httpx.get(f"{cluster.a.url}/api/v2.0/jobs/{job_id}", auth=ADMIN).json()
        if job["status"] == "succeeded":
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["worker"] != "killed-worker"
    assert "killed-worker" in str(job["error"])
