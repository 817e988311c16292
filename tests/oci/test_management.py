"""Content management: deleting tags, manifests and blobs (spec "Content Management")."""

from __future__ import annotations

import httpx

from dockyard.registry import Registry
from tests.oci.helpers import (
    assert_oci_error,
    digest_of,
    push_blob,
    push_image,
    put_manifest,
)

NAME = "library/manage"


async def test_delete_by_tag_removes_only_the_tag(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, NAME, "v1")
    assert (await put_manifest(client, NAME, "stable", body)).status_code == 201
    r = await client.delete(f"/v2/{NAME}/manifests/v1")
    assert r.status_code == 202
    assert_oci_error(await client.get(f"/v2/{NAME}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).content == body
    assert (await client.get(f"/v2/{NAME}/manifests/stable")).status_code == 200
    assert (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["stable"]


async def test_artifact_whose_last_tag_is_deleted_is_untagged(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, NAME, "v1")
    await push_image(client, NAME, "v2", layers=(b"another layer",))
    assert (await client.delete(f"/v2/{NAME}/manifests/v1")).status_code == 202
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).content == body
    untagged = await registry.manifests.artifacts(NAME, untagged_only=True)
    assert [(a.digest, a.tags) for a in untagged] == [(digest, ())]
    everything = await registry.manifests.artifacts(NAME)
    assert len(everything) == 2


async def test_delete_by_digest_removes_the_artifact_and_its_tags(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, NAME, "v1")
    assert (await put_manifest(client, NAME, "stable", body)).status_code == 201
    kept, _ = await push_image(client, NAME, "other", layers=(b"other layer",))
    r = await client.delete(f"/v2/{NAME}/manifests/{digest}")
    assert r.status_code == 202
    assert_oci_error(await client.get(f"/v2/{NAME}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    for tag in ("v1", "stable"):
        assert_oci_error(await client.get(f"/v2/{NAME}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
        assert (await client.head(f"/v2/{NAME}/manifests/{tag}")).status_code == 404
    assert (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["other"]
    assert [a.digest for a in await registry.manifests.artifacts(NAME)] == [kept]


async def test_deleted_manifest_can_be_pushed_again(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, NAME, "v1")
    assert (await client.delete(f"/v2/{NAME}/manifests/{digest}")).status_code == 202
    r = await put_manifest(client, NAME, "v1", body)
    assert r.status_code == 201, r.text
    assert (await client.get(f"/v2/{NAME}/manifests/v1")).content == body


async def test_delete_manifest_in_one_repository_keeps_it_in_another(
    client: httpx.AsyncClient,
) -> None:
    digest, body = await push_image(client, NAME, "v1")
    assert (await push_image(client, "library/copy", "v1"))[0] == digest
    assert (await client.delete(f"/v2/{NAME}/manifests/{digest}")).status_code == 202
    assert (await client.get(f"/v2/library/copy/manifests/{digest}")).content == body


async def test_delete_blob(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, b"a blob nobody references")
    r = await client.delete(f"/v2/{NAME}/blobs/{digest}")
    assert r.status_code == 202
    assert_oci_error(await client.get(f"/v2/{NAME}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert (await client.head(f"/v2/{NAME}/blobs/{digest}")).status_code == 404
    assert_oci_error(await client.delete(f"/v2/{NAME}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


async def test_delete_blob_in_one_repository_keeps_it_in_another(
    client: httpx.AsyncClient,
) -> None:
    data = b"shared by two repositories"
    digest = await push_blob(client, NAME, data)
    await push_blob(client, "library/copy", data)
    assert (await client.delete(f"/v2/{NAME}/blobs/{digest}")).status_code == 202
    assert (await client.get(f"/v2/library/copy/blobs/{digest}")).content == data


async def test_deleting_a_blob_a_manifest_references_is_refused(
    client: httpx.AsyncClient,
) -> None:
    layer = b"a layer in use"
    digest, _ = await push_image(client, NAME, "v1", layers=(layer,))
    r = await client.delete(f"/v2/{NAME}/blobs/{digest_of(layer)}")
    assert_oci_error(r, 405, "UNSUPPORTED")
    assert (await client.get(f"/v2/{NAME}/blobs/{digest_of(layer)}")).content == layer
    # Once the manifest is gone, the blob may go too.
    assert (await client.delete(f"/v2/{NAME}/manifests/{digest}")).status_code == 202
    assert (await client.delete(f"/v2/{NAME}/blobs/{digest_of(layer)}")).status_code == 202


async def test_delete_unknown_manifest_is_404(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    r = await client.delete(f"/v2/{NAME}/manifests/{digest_of(b'nothing')}")
    assert_oci_error(r, 404, "MANIFEST_UNKNOWN")
    assert_oci_error(await client.delete(f"/v2/{NAME}/manifests/nope"), 404, "MANIFEST_UNKNOWN")


async def test_delete_in_unknown_repository_is_404(client: httpx.AsyncClient) -> None:
    digest = digest_of(b"nothing")
    r = await client.delete(f"/v2/no/such/manifests/{digest}")
    assert_oci_error(r, 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"])
    r = await client.delete("/v2/no/such/manifests/latest")
    assert_oci_error(r, 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"])
    r = await client.delete(f"/v2/no/such/blobs/{digest}")
    assert_oci_error(r, 404, ["BLOB_UNKNOWN", "NAME_UNKNOWN"])


async def test_delete_unknown_blob_is_404(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, b"something")
    r = await client.delete(f"/v2/{NAME}/blobs/{digest_of(b'nothing')}")
    assert_oci_error(r, 404, "BLOB_UNKNOWN")
