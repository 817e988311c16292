"""Push of manifests: by tag and by digest, tags moving, subjects, Docker types, indexes."""

from __future__ import annotations

import httpx

from tests.oci.helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
)

NAME = "library/push"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


async def test_manifest_by_tag(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, b'{"os":"linux"}')
    await push_blob(client, NAME, b"layer")
    body = encode(image_manifest(b'{"os":"linux"}', [b"layer"]))
    r = await put_manifest(client, NAME, "v1", body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest_of(body)
    assert r.headers["Location"]
    pulled = await client.get(r.headers["Location"])
    assert pulled.status_code == 200
    assert pulled.content == body


async def test_manifest_by_digest(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, b'{"os":"linux"}')
    await push_blob(client, NAME, b"layer")
    body = encode(image_manifest(b'{"os":"linux"}', [b"layer"]))
    digest = digest_of(body)
    r = await put_manifest(client, NAME, digest, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"].endswith(f"/v2/{NAME}/manifests/{digest}")
    assert (await client.get(r.headers["Location"])).content == body


async def test_pushing_the_same_manifest_twice_is_fine(client: httpx.AsyncClient) -> None:
    first, body = await push_image(client, NAME, "v1")
    r = await put_manifest(client, NAME, "v1", body)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == first


async def test_repushed_tag_moves_to_the_new_manifest(client: httpx.AsyncClient) -> None:
    old, _ = await push_image(client, NAME, "latest", layers=(b"old layer",))
    new, new_body = await push_image(client, NAME, "latest", layers=(b"new layer",))
    assert old != new
    r = await client.get(f"/v2/{NAME}/manifests/latest")
    assert r.headers["Docker-Content-Digest"] == new
    assert r.content == new_body
    # The old manifest is still there, by digest.
    assert (await client.get(f"/v2/{NAME}/manifests/{old}")).status_code == 200


async def test_manifest_with_subject_gets_oci_subject_header(client: httpx.AsyncClient) -> None:
    subject, subject_body = await push_image(client, NAME, "v1")
    empty = b"{}"
    await push_blob(client, NAME, empty)
    await push_blob(client, NAME, b"signature")
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/vnd.example.signature.v1", b"signature")],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
    }
    r = await put_manifest(client, NAME, digest_of(encode(document)), document)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject


async def test_manifest_whose_subject_does_not_exist_yet_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    """Referrers may be pushed before their subject."""
    missing = digest_of(b"a manifest pushed later")
    await push_blob(client, NAME, b"{}")
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
        "layers": [descriptor("application/vnd.oci.empty.v1+json", b"{}")],
        "subject": {"mediaType": OCI_MANIFEST, "digest": missing, "size": 123},
    }
    r = await put_manifest(client, NAME, digest_of(encode(document)), document)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == missing


async def test_docker_schema2_manifest_and_manifest_list(client: httpx.AsyncClient) -> None:
    children = []
    for arch in ("amd64", "arm64"):
        config = f'{{"architecture":"{arch}","os":"linux"}}'.encode()
        layer = f"{arch} layer".encode()
        await push_blob(client, NAME, config)
        await push_blob(client, NAME, layer)
        document = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER, layer)],
        }
        body = encode(document)
        r = await put_manifest(client, NAME, f"docker-{arch}", body, DOCKER_MANIFEST)
        assert r.status_code == 201, r.text
        pulled = await client.get(
            f"/v2/{NAME}/manifests/docker-{arch}", headers={"Accept": DOCKER_MANIFEST}
        )
        assert pulled.headers["Content-Type"] == DOCKER_MANIFEST
        assert pulled.content == body
        children.append(
            {**descriptor(DOCKER_MANIFEST, body), "platform": {"architecture": arch, "os": "linux"}}
        )
    manifest_list = encode({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children})
    r = await put_manifest(client, NAME, "docker", manifest_list, DOCKER_LIST)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest_of(manifest_list)
    pulled = await client.get(f"/v2/{NAME}/manifests/docker", headers={"Accept": DOCKER_LIST})
    assert pulled.headers["Content-Type"] == DOCKER_LIST
    assert pulled.content == manifest_list


async def test_docker_manifest_with_foreign_layer_needs_no_upload_of_it(
    client: httpx.AsyncClient,
) -> None:
    """Foreign (non-distributable) layers live at their ``urls``, not in the registry."""
    config, layer = b'{"os":"windows"}', b"app layer"
    await push_blob(client, NAME, config)
    await push_blob(client, NAME, layer)
    foreign = {
        "mediaType": DOCKER_FOREIGN_LAYER,
        "digest": digest_of(b"windows base layer"),
        "size": 1024,
        "urls": ["https://example.com/base-layer.tar.gz"],
    }
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [foreign, descriptor(DOCKER_LAYER, layer)],
    }
    r = await put_manifest(client, NAME, "windows", document, DOCKER_MANIFEST)
    assert r.status_code == 201, r.text


async def test_oci_index_whose_children_exist(client: httpx.AsyncClient) -> None:
    amd64, amd64_body = await push_image(client, NAME, "amd64", layers=(b"amd64",))
    arm64, arm64_body = await push_image(client, NAME, "arm64", layers=(b"arm64",))
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {**descriptor(OCI_MANIFEST, amd64_body), "platform": {"architecture": "amd64"}},
                {**descriptor(OCI_MANIFEST, arm64_body), "platform": {"architecture": "arm64"}},
            ],
        }
    )
    r = await put_manifest(client, NAME, "multi", index, OCI_INDEX)
    assert r.status_code == 201, r.text
    pulled = await client.get(f"/v2/{NAME}/manifests/multi", headers={"Accept": OCI_INDEX})
    assert pulled.headers["Content-Type"] == OCI_INDEX
    assert pulled.content == index
    assert pulled.headers["Docker-Content-Digest"] == digest_of(index)
    # The children were pushed by tag but are reachable by the digests the index names.
    assert (await client.get(f"/v2/{NAME}/manifests/{amd64}")).content == amd64_body
    assert (await client.get(f"/v2/{NAME}/manifests/{arm64}")).content == arm64_body


async def test_children_pushed_by_digest_only(client: httpx.AsyncClient) -> None:
    """Clients push the children of an index untagged, by digest."""
    await push_blob(client, NAME, b'{"os":"linux"}')
    await push_blob(client, NAME, b"layer")
    child = encode(image_manifest(b'{"os":"linux"}', [b"layer"]))
    r = await put_manifest(client, NAME, digest_of(child), child)
    assert r.status_code == 201, r.text
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, child)],
    }
    r = await put_manifest(client, NAME, "latest", index, OCI_INDEX)
    assert r.status_code == 201, r.text


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, b'{"os":"linux"}')
    body = encode(image_manifest(b'{"os":"linux"}', []))
    r = await put_manifest(client, NAME, "params", body, f"{OCI_MANIFEST}; charset=utf-8")
    assert r.status_code == 201, r.text
    pulled = await client.get(f"/v2/{NAME}/manifests/params")
    assert pulled.headers["Content-Type"] == OCI_MANIFEST


async def test_manifest_by_sha512_digest(client: httpx.AsyncClient) -> None:
    config, layer = b'{"os":"linux"}', b"sha512 layer"
    for blob in (config, layer):
        data_digest = digest_of(blob, "sha512")
        r = await client.post(
            f"/v2/{NAME}/blobs/uploads/", params={"digest": data_digest}, content=blob
        )
        assert r.status_code == 201
    body = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": digest_of(config, "sha512"),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(layer, "sha512"), "size": len(layer)}
            ],
        }
    )
    digest = digest_of(body, "sha512")
    r = await put_manifest(client, NAME, digest, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"].endswith(f"/v2/{NAME}/manifests/{digest}")
    pulled = await client.get(f"/v2/{NAME}/manifests/{digest}")
    assert pulled.status_code == 200
    assert pulled.content == body
    assert pulled.headers["Docker-Content-Digest"] == digest
