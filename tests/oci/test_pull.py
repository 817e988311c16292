"""Pull: manifests and blobs by GET and HEAD, ranges, and what is not there (spec "Pull")."""

from __future__ import annotations

import httpx
import pytest

from tests.oci.helpers import (
    OCI_MANIFEST,
    assert_oci_error,
    digest_of,
    push_blob,
    push_image,
)

NAME = "library/pull"
BLOB = bytes(range(20))  # 20 distinct bytes, so every range is recognisable


@pytest.fixture
async def manifest(client: httpx.AsyncClient) -> tuple[str, bytes]:
    """(digest, bytes) of an image pushed as NAME:v1."""
    return await push_image(client, NAME, "v1")


@pytest.fixture
async def blob(client: httpx.AsyncClient) -> str:
    return await push_blob(client, NAME, BLOB)


def assert_manifest_headers(r: httpx.Response, digest: str, body: bytes) -> None:
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["ETag"].strip('"') == digest


@pytest.mark.parametrize("by", ["tag", "digest"])
async def test_get_manifest(
    client: httpx.AsyncClient, manifest: tuple[str, bytes], by: str
) -> None:
    digest, body = manifest
    reference = "v1" if by == "tag" else digest
    r = await client.get(f"/v2/{NAME}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert_manifest_headers(r, digest, body)
    assert r.content == body
    assert digest_of(r.content) == digest


@pytest.mark.parametrize("by", ["tag", "digest"])
async def test_head_manifest_has_headers_and_no_body(
    client: httpx.AsyncClient, manifest: tuple[str, bytes], by: str
) -> None:
    digest, body = manifest
    reference = "v1" if by == "tag" else digest
    r = await client.head(f"/v2/{NAME}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert_manifest_headers(r, digest, body)
    assert r.content == b""


async def test_manifest_is_served_byte_for_byte(client: httpx.AsyncClient) -> None:
    """The registry must keep the exact bytes, whitespace and key order included."""
    config = b'{"os":"linux"}'
    await push_blob(client, NAME, config)
    body = (
        b'{\n  "schemaVersion": 2,\n  "mediaType": "' + OCI_MANIFEST.encode() + b'",\n'
        b'  "layers": [],\n  "config": {"size": ' + str(len(config)).encode() + b", "
        b'"digest": "' + digest_of(config).encode() + b'", '
        b'"mediaType": "application/vnd.oci.image.config.v1+json"}\n}\n'
    )
    r = await client.put(
        f"/v2/{NAME}/manifests/pretty", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest_of(body)
    pulled = await client.get(f"/v2/{NAME}/manifests/pretty")
    assert pulled.content == body


async def test_get_blob(client: httpx.AsyncClient, blob: str) -> None:
    r = await client.get(f"/v2/{NAME}/blobs/{blob}")
    assert r.status_code == 200
    assert r.content == BLOB
    assert r.headers["Content-Length"] == str(len(BLOB))
    assert r.headers["Docker-Content-Digest"] == blob


async def test_head_blob_has_headers_and_no_body(client: httpx.AsyncClient, blob: str) -> None:
    r = await client.head(f"/v2/{NAME}/blobs/{blob}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(BLOB))
    assert r.headers["Docker-Content-Digest"] == blob
    assert r.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=5-", 5, 19),
        ("bytes=-4", 16, 19),
        ("bytes=5-1000", 5, 19),  # an end past the blob is clamped to its last byte
        ("bytes=19-19", 19, 19),
        ("bytes=-100", 0, 19),  # a suffix longer than the blob is the whole blob
    ],
)
async def test_blob_range(
    client: httpx.AsyncClient, blob: str, header: str, start: int, end: int
) -> None:
    r = await client.get(f"/v2/{NAME}/blobs/{blob}", headers={"Range": header})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(BLOB)}"
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.content == BLOB[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=20-", "bytes=100-200", "bytes=-0"])
async def test_unsatisfiable_blob_range_is_416(
    client: httpx.AsyncClient, blob: str, header: str
) -> None:
    r = await client.get(f"/v2/{NAME}/blobs/{blob}", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(BLOB)}"
    assert_oci_error(r, 416)


async def test_unknown_blob_is_404(client: httpx.AsyncClient, blob: str) -> None:
    missing = digest_of(b"never pushed")
    assert_oci_error(await client.get(f"/v2/{NAME}/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    assert (await client.head(f"/v2/{NAME}/blobs/{missing}")).status_code == 404


@pytest.mark.parametrize("reference", ["nope", digest_of(b"no such manifest")])
async def test_unknown_manifest_is_404(
    client: httpx.AsyncClient, manifest: tuple[str, bytes], reference: str
) -> None:
    r = await client.get(f"/v2/{NAME}/manifests/{reference}")
    assert_oci_error(r, 404, "MANIFEST_UNKNOWN")
    assert (await client.head(f"/v2/{NAME}/manifests/{reference}")).status_code == 404


async def test_manifest_of_unknown_repository_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/no/such/repo/manifests/latest")
    assert_oci_error(r, 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"])


async def test_blob_of_another_repository_is_not_served(
    client: httpx.AsyncClient, blob: str
) -> None:
    """Content addressing is global, visibility is not: a repository serves what it links."""
    assert_oci_error(await client.get(f"/v2/library/other/blobs/{blob}"), 404, "BLOB_UNKNOWN")
    await push_blob(client, "library/other", b"something else")
    assert_oci_error(await client.get(f"/v2/library/other/blobs/{blob}"), 404, "BLOB_UNKNOWN")
    assert (await client.head(f"/v2/library/other/blobs/{blob}")).status_code == 404


async def test_manifest_of_another_repository_is_not_served(
    client: httpx.AsyncClient, manifest: tuple[str, bytes]
) -> None:
    digest, _ = manifest
    await push_image(client, "library/other", "v1", layers=(b"other layer",))
    r = await client.get(f"/v2/library/other/manifests/{digest}")
    assert_oci_error(r, 404, "MANIFEST_UNKNOWN")


async def test_api_base(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/")
    assert r.status_code == 200
