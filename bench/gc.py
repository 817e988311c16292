"""Garbage collection at scale: ``python -m bench.gc`` times runs over one repository of
10,000 artifacts and 50,000 blobs on the embedded default (SQLite and files).

The repository is built through the registry's own services: every blob is a real
file written by the store, every manifest goes in through ``ManifestService.add`` (in
transactions of 500, which is the only shortcut). Half of the artifacts are tagged;
the other half were pushed by digest and are garbage for a run that deletes untagged
artifacts, with their 25,000 blobs. The figures: a dry run, the run that removes all
that, and a run that finds nothing left to do. The issue's target: under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dockyard.artifacts.manifests import parse_manifest
from dockyard.blobs.models import Blob, RepositoryBlob
from dockyard.db.base import utcnow
from dockyard.db.migrate import upgrade
from dockyard.jobs.worker import Worker
from dockyard.registry import Registry
from dockyard.settings import Settings

REPOSITORY = "library/big"
BATCH = 500


def _digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest(config: str, layers: list[str]) -> bytes:
    import orjson

    def descriptor(media_type: str, digest: str) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest, "size": 64}

    return orjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [
                descriptor("application/vnd.oci.image.layer.v1.tar+gzip", d) for d in layers
            ],
        }
    )


async def build(registry: Registry, artifacts: int, blobs_each: int) -> None:
    """``artifacts`` images of ``blobs_each`` blobs of their own; every other one untagged."""
    repository = None
    started = time.monotonic()
    for first in range(0, artifacts, BATCH):
        numbers = range(first, min(first + BATCH, artifacts))
        contents = {
            n: [(b"%08d blob %d " % (n, b)).ljust(64, b".") for b in range(blobs_each)]
            for n in numbers
        }
        digests = {n: [_digest(c) for c in contents[n]] for n in numbers}
        for n in numbers:
            for digest, content in zip(digests[n], contents[n], strict=True):
                await registry.store.put(digest, content)
        async with registry.db.write() as conn:
            if repository is None:
                repository = await registry.repositories.ensure_key(conn, REPOSITORY)
            now = utcnow()
            rows = [
                {"digest": d, "size": 64, "created_at": now, "used_at": now, "deleting": False}
                for n in numbers
                for d in digests[n]
            ]
            await conn.execute(Blob.__table__.insert(), rows)
            await conn.execute(
                RepositoryBlob.__table__.insert(),
                [{"repository_id": repository.id, "digest": r["digest"]} for r in rows],
            )
            for n in numbers:
                body = _manifest(digests[n][0], digests[n][1:])
                manifest_id = await registry.manifests.add(
                    conn,
                    repository.id,
                    _digest(body),
                    body,
                    parse_manifest(body, None),
                    project_id=repository.project_id,
                )
                if n % 2 == 0:
                    await registry.manifests.set_tag(conn, repository.id, f"v{n}", manifest_id)
        print(
            f"\rbuilt {numbers[-1] + 1} of {artifacts} artifacts "
            f"({time.monotonic() - started:.0f} s)",
            end="",
            file=sys.stderr,
        )
    print(file=sys.stderr)


async def timed_run(registry: Registry, **payload: Any) -> tuple[float, dict[str, Any]]:
    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    job = await registry.gc.start({"grace_minutes": 0, **payload})
    started = time.monotonic()
    assert await worker.run_one(job.id)
    elapsed = time.monotonic() - started
    job = await registry.jobs.get(job.id)
    if job.status != "succeeded":
        raise SystemExit(f"run {job.id} {job.status}: {job.error}")
    return elapsed, job.result


async def main(artifacts: int, blobs_each: int, work_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="bench-gc-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        await asyncio.to_thread(upgrade, settings.database_url)
        registry = Registry.build(settings)
        try:
            await build(registry, artifacts, blobs_each)
            print(
                f"| run ({artifacts} artifacts, {artifacts * blobs_each} blobs, SQLite + files) "
                "| seconds | artifacts | blobs | bytes |"
            )
            print("|---|---:|---:|---:|---:|")
            for label, payload in [
                ("dry run, deleting untagged", {"dry_run": True, "delete_untagged": True}),
                ("run, deleting untagged", {"delete_untagged": True}),
                ("run, nothing left to remove", {"delete_untagged": True}),
            ]:
                elapsed, result = await timed_run(registry, **payload)
                print(
                    f"| {label} | {elapsed:.1f} | {result['artifacts_deleted']} "
                    f"| {result['blobs_deleted']} | {result['bytes_freed']} |"
                )
        finally:
            await registry.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--blobs-each", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=None)
    options = parser.parse_args()
    asyncio.run(main(options.artifacts, options.blobs_each, options.work_dir))
