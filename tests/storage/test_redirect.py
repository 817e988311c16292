"""``storage.s3.redirect``: blob downloads go to presigned URLs of the object store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dockyard.app import create_app
from dockyard.db.migrate import upgrade
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.conftest import install
from tests.oci.helpers import digest_of, push_blob
from tests.s3_server import S3Server
from tests.servers import ADMIN_PASSWORD


@pytest.fixture
async def client(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    settings.storage.driver = "s3"
    settings.storage.s3 = s3_server.settings(redirect=True, redirect_ttl_seconds=300)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    await install(registry)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://registry.test",
        auth=("admin", ADMIN_PASSWORD),
    ) as c:
        yield c
    await registry.close()


async def test_blob_get_redirects_to_the_object_store(
    client: httpx.AsyncClient, s3_server: S3Server
) -> None:
    data = os.urandom(70_000)
    digest = await push_blob(client, "lib/far", data)

    r = await client.get(f"/v2/lib/far/blobs/{digest}")
    assert r.status_code == 307
    assert r.headers["Docker-Content-Digest"] == digest
    location = r.headers["Location"]
    assert location.startswith(s3_server.endpoint)
    async with httpx.AsyncClient() as outside:
        whole = await outside.get(location)
        ranged = await outside.get(location, headers={"Range": "bytes=100-199"})
    assert whole.status_code == 200
    assert whole.content == data
    assert ranged.content == data[100:200]

    # HEAD still answers here, with the size and digest; unknown blobs still 404.
    r = await client.head(f"/v2/lib/far/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    r = await client.get(f"/v2/lib/far/blobs/{digest_of(b'absent')}")
    assert r.status_code == 404
    # A repository that does not link the blob gets no URL for it.
    r = await client.get(f"/v2/lib/other/blobs/{digest}")
    assert r.status_code == 404
