"""Many clients at once against a real server: shared blobs, no error, nothing lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ADMIN, DockyardServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, server_env: dict[str, str]
) -> Iterator[DockyardServer]:
    running = DockyardServer(tmp_path / "data", workers=request.param, env=server_env).start()
    yield running
    running.stop()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _push(
    client: httpx.AsyncClient, repository: str, tag: str, shared: bytes, own: bytes
) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (shared, own, config):
        answer = await client.post(
            f"/v2/{repository}/blobs/uploads/", params={"digest": _digest(blob)}, content=blob
        )
        assert answer.status_code == 201, answer.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(b),
                    "size": len(b),
                }
                for b in (shared, own)
            ],
        }
    ).encode()
    answer = await client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 201, answer.text
    return answer.headers["Docker-Content-Digest"]


async def test_concurrent_pushes_of_shared_layers_all_land(server: DockyardServer) -> None:
    shared = os.urandom(2 * 1024 * 1024)
    owns = {f"lib/app{i % 4}:t{i}": os.urandom(64 * 1024 + i) for i in range(32)}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, timeout=60, auth=ADMIN
    ) as client:
        pushed = await asyncio.gather(
            *[
                _push(client, reference.split(":")[0], reference.split(":")[1], shared, own)
                for reference, own in owns.items()
            ]
        )
        for (reference, own), digest in zip(owns.items(), pushed, strict=True):
            repository, tag = reference.split(":")
            manifest = await client.get(
                f"/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
            )
            assert manifest.headers["Docker-Content-Digest"] == digest
            layers = manifest.json()["layers"]
            for layer, expected in zip(layers, (shared, own), strict=True):
                blob = await client.get(f"/v2/{repository}/blobs/{layer['digest']}")
                assert blob.content == expected
        tags = (await client.get("/v2/lib/app0/tags/list")).json()["tags"]
        assert tags == sorted(f"t{i}" for i in range(0, 32, 4))
    # The shared layer is stored once, however many repositories hold it.
    shared_hex = _digest(shared).split(":")[1]
    assert len([path for path in server.stored("blobs") if path.endswith(shared_hex)]) == 1
