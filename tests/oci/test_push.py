"""Push of blobs: monolithic, chunked and streamed uploads, digests, mounts (spec "Push")."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import (
    assert_oci_error,
    digest_of,
    push_blob,
    start_upload,
)
from tests.stored import stored_copies

NAME = "library/push"


async def assert_blob(client: httpx.AsyncClient, name: str, data: bytes, digest: str) -> None:
    r = await client.get(f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200, r.text
    assert r.content == data


async def assert_no_blob(client: httpx.AsyncClient, name: str, digest: str) -> None:
    assert_oci_error(await client.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def assert_created_blob(r: httpx.Response, name: str, digest: str) -> None:
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/v2/{name}/blobs/{digest}")
    assert r.headers["Docker-Content-Digest"] == digest


async def patch_chunk(
    client: httpx.AsyncClient, location: str, chunk: bytes, start: int
) -> httpx.Response:
    return await client.patch(
        location,
        content=chunk,
        headers={
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )


# --- monolithic uploads ---------------------------------------------------------------------


async def test_post_then_put(client: httpx.AsyncClient) -> None:
    data = b"pushed with POST then PUT"
    digest = digest_of(data)
    started = await client.post(f"/v2/{NAME}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    assert started.headers["Docker-Upload-UUID"] in location
    r = await client.put(
        location,
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_created_blob(r, NAME, digest)
    pulled = await client.get(r.headers["Location"])
    assert pulled.content == data


async def test_single_post_with_digest(client: httpx.AsyncClient) -> None:
    data = b"pushed with one POST"
    digest = digest_of(data)
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_created_blob(r, NAME, digest)
    assert (await client.get(r.headers["Location"])).content == data


async def test_empty_blob(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, b"")
    r = await client.get(f"/v2/{NAME}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Length"] == "0"


async def test_large_blob_in_one_put(client: httpx.AsyncClient) -> None:
    """Larger than the store's write batch, so the blob is written in several pieces."""
    data = os.urandom(9 * 1024 * 1024 + 3)
    digest = digest_of(data)
    location = await start_upload(client, NAME)
    r = await client.put(location, params={"digest": digest}, content=data)
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


# --- chunked and streamed uploads -----------------------------------------------------------


async def test_chunked_upload(client: httpx.AsyncClient) -> None:
    data = os.urandom(1000)
    digest = digest_of(data)
    location = await start_upload(client, NAME)
    for start in range(0, len(data), 300):
        chunk = data[start : start + 300]
        r = await patch_chunk(client, location, chunk, start)
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{start + len(chunk) - 1}"
        location = r.headers["Location"]  # each chunk goes where the last response says
        assert r.headers["Docker-Upload-UUID"] in location
    r = await client.put(location, params={"digest": digest})
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


async def test_streamed_patch_without_content_range(client: httpx.AsyncClient) -> None:
    data = os.urandom(5 * 1024 * 1024)
    digest = digest_of(data)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1024 * 1024):
            yield data[start : start + 1024 * 1024]

    location = await start_upload(client, NAME)
    r = await client.patch(location, content=pieces())
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = await client.put(r.headers["Location"], params={"digest": digest})
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


async def test_final_chunk_in_the_closing_put(client: httpx.AsyncClient) -> None:
    data = b"first half|second half"
    digest = digest_of(data)
    location = await start_upload(client, NAME)
    r = await patch_chunk(client, location, data[:11], 0)
    assert r.status_code == 202
    r = await client.put(
        r.headers["Location"],
        params={"digest": digest},
        content=data[11:],
        headers={
            "Content-Range": f"11-{len(data) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


async def test_completed_upload_session_is_closed(client: httpx.AsyncClient) -> None:
    data = b"done"
    location = await start_upload(client, NAME)
    r = await client.put(location, params={"digest": digest_of(data)}, content=data)
    assert r.status_code == 201
    assert_oci_error(await client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    r = await client.put(location, params={"digest": digest_of(data)}, content=data)
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


async def test_upload_status(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"0123456789", 0)
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-9"
    assert r.headers["Location"]
    assert r.content == b""


async def test_cancel_upload(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"abandoned", 0)
    r = await client.delete(location)
    assert r.status_code == 204
    assert_oci_error(await client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    r = await patch_chunk(client, location, b"more", 9)
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    r = await client.put(location, params={"digest": digest_of(b"abandoned")})
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


async def test_out_of_order_chunk_is_416_and_the_upload_continues(
    client: httpx.AsyncClient,
) -> None:
    data = b"0123456789abcdef"
    location = await start_upload(client, NAME)
    location = (await patch_chunk(client, location, data[:5], 0)).headers["Location"]
    r = await patch_chunk(client, location, data[10:], 10)
    assert r.status_code == 416
    assert r.headers["Range"] == "0-4"
    assert (await client.get(location)).headers["Range"] == "0-4"
    r = await patch_chunk(client, location, data[5:], 5)
    assert r.status_code == 202
    r = await client.put(r.headers["Location"], params={"digest": digest_of(data)})
    assert_created_blob(r, NAME, digest_of(data))
    await assert_blob(client, NAME, data, digest_of(data))


async def test_first_chunk_must_start_at_zero(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    r = await patch_chunk(client, location, b"late", 4)
    assert r.status_code == 416


async def test_repeated_chunk_is_416(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"01234", 0)
    r = await patch_chunk(client, location, b"01234", 0)
    assert r.status_code == 416
    assert r.headers["Range"] == "0-4"


@pytest.mark.parametrize(
    ("content_range", "content_length"),
    [
        ("5-14", "5"),  # Content-Length smaller than the range (and than the body)
        ("5-9", None),  # the range says 5 bytes, the body and its Content-Length say 10
    ],
)
async def test_chunk_whose_length_disagrees_with_content_range_is_400(
    client: httpx.AsyncClient, content_range: str, content_length: str | None
) -> None:
    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"01234", 0)
    headers = {"Content-Range": content_range, "Content-Type": "application/octet-stream"}
    if content_length is not None:
        headers["Content-Length"] = content_length
    r = await client.patch(location, content=b"5678901234", headers=headers)
    assert_oci_error(r, 400, ["BLOB_UPLOAD_INVALID", "SIZE_INVALID"])
    # The bad chunk left nothing behind.
    assert (await client.get(location)).headers["Range"] == "0-4"


async def test_chunk_body_shorter_than_its_content_range_is_400(
    client: httpx.AsyncClient,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"567"  # streamed, so no Content-Length to check up front

    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"01234", 0)
    r = await client.patch(location, content=body(), headers={"Content-Range": "5-14"})
    assert_oci_error(r, 400, ["BLOB_UPLOAD_INVALID", "SIZE_INVALID"])
    assert (await client.get(location)).headers["Range"] == "0-4"


# --- digests -------------------------------------------------------------------------------


async def test_wrong_digest_on_put_is_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    data = b"the real content"
    claimed = digest_of(b"something else")
    location = await start_upload(client, NAME)
    r = await client.put(location, params={"digest": claimed}, content=data)
    assert_oci_error(r, 400, "DIGEST_INVALID")
    await assert_no_blob(client, NAME, claimed)
    await assert_no_blob(client, NAME, digest_of(data))


async def test_wrong_digest_on_single_post_is_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    data = b"the real content"
    claimed = digest_of(b"something else")
    r = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"digest": claimed}, content=data)
    assert_oci_error(r, 400, "DIGEST_INVALID")
    await assert_no_blob(client, NAME, claimed)
    await assert_no_blob(client, NAME, digest_of(data))


async def test_wrong_digest_after_chunks_is_rejected(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    await patch_chunk(client, location, b"chunk one", 0)
    claimed = digest_of(b"chunk two")
    r = await client.put(location, params={"digest": claimed})
    assert_oci_error(r, 400, "DIGEST_INVALID")
    await assert_no_blob(client, NAME, claimed)
    await assert_no_blob(client, NAME, digest_of(b"chunk one"))


async def test_sha512_blob_by_single_post(client: httpx.AsyncClient) -> None:
    data = b"hashed with sha512"
    digest = digest_of(data, "sha512")
    r = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=data)
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)
    head = await client.head(f"/v2/{NAME}/blobs/{digest}")
    assert head.headers["Docker-Content-Digest"] == digest
    await assert_no_blob(client, NAME, digest_of(data))  # not under its sha256 name


async def test_sha512_blob_in_chunks(client: httpx.AsyncClient) -> None:
    data = os.urandom(700)
    digest = digest_of(data, "sha512")
    location = await start_upload(client, NAME)
    location = (await patch_chunk(client, location, data[:400], 0)).headers["Location"]
    location = (await patch_chunk(client, location, data[400:], 400)).headers["Location"]
    r = await client.put(location, params={"digest": digest})
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


async def test_sha512_wrong_digest_is_rejected(client: httpx.AsyncClient) -> None:
    claimed = digest_of(b"not this", "sha512")
    location = await start_upload(client, NAME)
    r = await client.put(location, params={"digest": claimed}, content=b"this")
    assert_oci_error(r, 400, "DIGEST_INVALID")
    await assert_no_blob(client, NAME, claimed)


# --- cross-repository mounts ---------------------------------------------------------------


async def test_mount_from_another_repository(client: httpx.AsyncClient) -> None:
    data = b"shared base layer"
    digest = await push_blob(client, "library/source", data)
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "library/source"}
    )
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)
    await assert_blob(client, "library/source", data, digest)


async def test_mount_from_a_repository_without_the_blob_starts_an_upload(
    client: httpx.AsyncClient,
) -> None:
    data = b"only elsewhere"
    digest = await push_blob(client, "library/elsewhere", data)
    await push_blob(client, "library/source", b"something else")
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "library/source"}
    )
    assert r.status_code == 202, r.text
    await assert_no_blob(client, NAME, digest)
    # The fallback is a real upload session.
    r = await client.put(r.headers["Location"], params={"digest": digest}, content=data)
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


async def test_mount_from_an_unknown_repository_starts_an_upload(
    client: httpx.AsyncClient,
) -> None:
    digest = digest_of(b"nowhere")
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "library/nothing"}
    )
    assert r.status_code == 202, r.text
    assert (await client.get(r.headers["Location"])).status_code == 204


async def test_mount_without_from_of_an_unknown_blob_starts_an_upload(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": digest_of(b"nowhere")})
    assert r.status_code == 202, r.text
    assert (await client.get(r.headers["Location"])).status_code == 204


async def test_mount_without_from_of_a_known_blob(client: httpx.AsyncClient) -> None:
    """The registry MAY mount without ``from``; either way the client can go on."""
    data = b"known somewhere"
    digest = await push_blob(client, "library/source", data)
    r = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": digest})
    if r.status_code == 202:
        r = await client.put(r.headers["Location"], params={"digest": digest}, content=data)
    assert_created_blob(r, NAME, digest)
    await assert_blob(client, NAME, data, digest)


# --- deduplication -------------------------------------------------------------------------


async def test_same_blob_in_two_repositories_is_stored_once(
    client: httpx.AsyncClient, settings: Settings, registry: Registry
) -> None:
    data = os.urandom(4096)
    digest = await push_blob(client, "team/one", data)
    assert await push_blob(client, "team/two", data) == digest
    assert await push_blob(client, "team/two", data) == digest  # and again: still one copy
    stored = stored_copies(settings, digest)
    assert stored == [data]
    assert await registry.blobs.size("team/one", digest) == len(data)
    assert await registry.blobs.size("team/two", digest) == len(data)
    await assert_blob(client, "team/one", data, digest)
    await assert_blob(client, "team/two", data, digest)
