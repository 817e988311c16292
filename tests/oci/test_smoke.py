from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from dockyard.artifacts.models import Manifest
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import OCI_MANIFEST, digest_of, push_image
from tests.stored import stored_keys


async def test_base_endpoint_announces_api_version(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_push_then_pull_image(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "library/app", "v1")
    assert digest == digest_of(body)
    r = await client.get("/v2/library/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == digest


async def test_each_backend_really_holds_the_data(
    client: httpx.AsyncClient,
    registry: Registry,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    backend = request.node.callspec.params["settings"]
    digest, _ = await push_image(client, "library/where", "v1")
    scale_out = backend == "postgresql+s3"
    assert registry.db.url.startswith("postgresql" if scale_out else "sqlite")
    async with registry.db.read() as conn:
        stored = await conn.scalar(select(Manifest.digest).where(Manifest.digest == digest))
    assert stored == digest
    # The layers went to the bucket, not to the data directory.
    assert type(registry.store).__name__ == ("S3BlobStore" if scale_out else "FilesystemBlobStore")
    assert any("sha256/" in key for key in stored_keys(settings))
    assert not (settings.blob_root.exists() and scale_out)
