from __future__ import annotations

import httpx

from tests.oci.helpers import OCI_MANIFEST, digest_of, push_image


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
