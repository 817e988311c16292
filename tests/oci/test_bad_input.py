"""Bad input on every endpoint: each is a 4xx carrying the spec's error JSON, never a 5xx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    start_upload,
)

NAME = "library/bad"
CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"a layer"
SOME_DIGEST = digest_of(b"some content")
SOME_UPLOAD = uuid.uuid4().hex
MANIFEST = encode(image_manifest(CONFIG, [LAYER]))


@pytest.fixture
async def blobs(client: httpx.AsyncClient) -> None:
    """The config and layer of MANIFEST, pushed to NAME."""
    await push_blob(client, NAME, CONFIG)
    await push_blob(client, NAME, LAYER)


# --- repository names ----------------------------------------------------------------------

INVALID_NAMES = {
    "uppercase": "Library/App",
    "dot-dot-component": "a/%2E%2E/b",
    "double-dot": "a..b",
    "leading-slash": "/app",
    "trailing-slash": "app/",
    "empty-component": "a//b",
    "trailing-dash": "app-",
    "leading-dash": "-app",
    "too-long": "a" * 256,
}

# (method, path after the name, request keyword arguments): one of each kind of endpoint.
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "manifests/latest", {}),
    ("HEAD", "manifests/latest", {}),
    ("PUT", "manifests/latest", {"content": MANIFEST, "headers": {"Content-Type": OCI_MANIFEST}}),
    ("DELETE", "manifests/latest", {}),
    ("DELETE", f"manifests/{SOME_DIGEST}", {}),
    ("GET", f"blobs/{SOME_DIGEST}", {}),
    ("HEAD", f"blobs/{SOME_DIGEST}", {}),
    ("DELETE", f"blobs/{SOME_DIGEST}", {}),
    ("POST", "blobs/uploads/", {}),
    ("POST", "blobs/uploads/", {"params": {"digest": SOME_DIGEST}, "content": b"some content"}),
    ("POST", "blobs/uploads/", {"params": {"mount": SOME_DIGEST, "from": "library/other"}}),
    ("GET", f"blobs/uploads/{SOME_UPLOAD}", {}),
    ("PATCH", f"blobs/uploads/{SOME_UPLOAD}", {"content": b"chunk"}),
    ("PUT", f"blobs/uploads/{SOME_UPLOAD}", {"params": {"digest": SOME_DIGEST}}),
    ("DELETE", f"blobs/uploads/{SOME_UPLOAD}", {}),
    ("GET", "tags/list", {}),
    ("GET", f"referrers/{SOME_DIGEST}", {}),
]


def endpoint_id(endpoint: tuple[str, str, dict[str, Any]]) -> str:
    """``PUT manifests/latest`` reads better than the digests and bodies in the tuple."""
    method, path, kwargs = endpoint
    query = "?" + "&".join(kwargs["params"]) if "params" in kwargs else ""
    return f"{method} {path.split('/')[0]}{query}"


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
async def test_invalid_repository_name(
    client: httpx.AsyncClient, name: str, endpoint: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, kwargs = endpoint
    r = await client.request(method, f"/v2/{name}/{path}", **kwargs)
    if method == "HEAD":
        assert r.status_code == 400
    else:
        assert_oci_error(r, 400, "NAME_INVALID")


async def test_invalid_name_in_mount_from(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": SOME_DIGEST, "from": "Bad/Name"}
    )
    # Either refused, or ignored in favour of a plain upload session.
    if r.status_code != 202:
        assert_oci_error(r, 400, "NAME_INVALID")


async def test_longest_valid_name_is_accepted(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    name = "a" * 127 + "/" + "b" * 127
    assert len(name) == 255
    await registry.projects.create("a" * 127, public=False, owner_id=None)
    digest, _ = await push_image(client, name, "v1")
    assert (await client.get(f"/v2/{name}/manifests/{digest}")).status_code == 200


# --- digests -------------------------------------------------------------------------------

INVALID_DIGESTS = {
    "short": "sha256:abc",
    "long": "sha256:" + "a" * 65,
    "non-hex": "sha256:" + "g" * 64,
    "uppercase-hex": "sha256:" + "A" * 64,
    "uppercase-algorithm": "SHA256:" + "a" * 64,
    "empty-encoded": "sha256:",
    "empty-algorithm": ":" + "a" * 64,
    "sha512-short": "sha512:" + "a" * 64,
}
NOT_DIGESTS = {"no-colon": "sha256", "word": "latest"}  # not even digest-shaped
MD5 = "md5:" + "0" * 32


@pytest.mark.parametrize(
    "digest",
    [*INVALID_DIGESTS.values(), *NOT_DIGESTS.values()],
    ids=[*INVALID_DIGESTS, *NOT_DIGESTS],
)
async def test_invalid_digest_on_blob_endpoints(client: httpx.AsyncClient, digest: str) -> None:
    await push_blob(client, NAME, b"something")
    for method in ("GET", "DELETE"):
        r = await client.request(method, f"/v2/{NAME}/blobs/{digest}")
        assert_oci_error(r, 400, "DIGEST_INVALID")
    assert (await client.head(f"/v2/{NAME}/blobs/{digest}")).status_code == 400
    r = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=b"x")
    assert_oci_error(r, 400, "DIGEST_INVALID")
    location = await start_upload(client, NAME)
    assert_oci_error(await client.put(location, params={"digest": digest}), 400, "DIGEST_INVALID")
    r = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "library/other"}
    )
    assert_oci_error(r, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", INVALID_DIGESTS.values(), ids=INVALID_DIGESTS.keys())
async def test_invalid_digest_as_manifest_reference(
    client: httpx.AsyncClient, blobs: None, digest: str
) -> None:
    """A reference with a colon is a digest; a malformed one is DIGEST_INVALID, not a 404."""
    for method in ("GET", "DELETE"):
        r = await client.request(method, f"/v2/{NAME}/manifests/{digest}")
        assert_oci_error(r, 400, "DIGEST_INVALID")
    assert (await client.head(f"/v2/{NAME}/manifests/{digest}")).status_code == 400
    assert_oci_error(await put_manifest(client, NAME, digest, MANIFEST), 400, "DIGEST_INVALID")


async def test_unsupported_digest_algorithm(client: httpx.AsyncClient, blobs: None) -> None:
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"blobs/{MD5}", {}),
        ("DELETE", f"blobs/{MD5}", {}),
        ("POST", "blobs/uploads/", {"params": {"digest": MD5}, "content": b"x"}),
        ("GET", f"manifests/{MD5}", {}),
        ("PUT", f"manifests/{MD5}", {"content": MANIFEST}),
        ("GET", f"referrers/{MD5}", {}),
    ]
    for method, path, kwargs in requests:
        r = await client.request(method, f"/v2/{NAME}/{path}", **kwargs)
        assert 400 <= r.status_code < 500, (method, path, r.status_code)
        assert_oci_error(r, r.status_code, ["UNSUPPORTED", "DIGEST_INVALID"])
    location = await start_upload(client, NAME)
    r = await client.put(location, params={"digest": MD5}, content=b"x")
    assert 400 <= r.status_code < 500
    assert_oci_error(r, r.status_code, ["UNSUPPORTED", "DIGEST_INVALID"])


async def test_closing_put_without_digest_is_400(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, NAME)
    assert_oci_error(await client.put(location, content=b"data"), 400, "DIGEST_INVALID")


async def test_manifest_digest_not_matching_the_body(
    client: httpx.AsyncClient, blobs: None
) -> None:
    for wrong in (digest_of(b"another body"), digest_of(b"another body", "sha512")):
        assert_oci_error(await put_manifest(client, NAME, wrong, MANIFEST), 400, "DIGEST_INVALID")
        assert (await client.get(f"/v2/{NAME}/manifests/{wrong}")).status_code == 404
    assert (await client.get(f"/v2/{NAME}/manifests/{digest_of(MANIFEST)}")).status_code == 404


# --- manifests -----------------------------------------------------------------------------

_CONFIG = descriptor(OCI_CONFIG, CONFIG)
_LAYER = descriptor(OCI_LAYER, LAYER)


def _manifest(**fields: Any) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _CONFIG,
        "layers": [_LAYER],
    }
    document.update(fields)
    return encode({k: v for k, v in document.items() if v is not None})


INVALID_MANIFESTS = {
    "not-json": b"this is not json",
    "truncated-json": MANIFEST[:-1],
    "empty-body": b"",
    "json-array": b"[]",
    "json-string": b'"manifest"',
    "json-null": b"null",
    "schema-version-1": _manifest(schemaVersion=1),
    "schema-version-string": _manifest(schemaVersion="2"),
    "no-schema-version": _manifest(schemaVersion=None),
    "no-config": _manifest(config=None),
    "config-not-object": _manifest(config="sha256:abc"),
    "layers-not-array": _manifest(layers=_LAYER),
    "negative-size": _manifest(layers=[{**_LAYER, "size": -1}]),
    "size-not-integer": _manifest(layers=[{**_LAYER, "size": "7"}]),
    "size-float": _manifest(layers=[{**_LAYER, "size": 7.5}]),
    "bad-descriptor-digest": _manifest(layers=[{**_LAYER, "digest": "sha256:xyz"}]),
    "no-descriptor-digest": _manifest(layers=[{"mediaType": OCI_LAYER, "size": 7}]),
    "no-descriptor-media-type": _manifest(
        layers=[{"digest": _LAYER["digest"], "size": _LAYER["size"]}]
    ),
    "annotation-not-string": _manifest(annotations={"count": 3}),
    "subject-not-descriptor": _manifest(subject="sha256:" + "a" * 64),
    "index-manifests-not-array": encode(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {}}
    ),
    "index-bad-child": encode(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": "nope"}]}
    ),
    # What PostgreSQL cannot store: NUL characters, and types past their column.
    "nul-in-artifact-type": _manifest(artifactType="application/x\u0000y"),
    "artifact-type-not-a-media-type": _manifest(artifactType="not a media type"),
    "artifact-type-too-long": _manifest(artifactType="application/" + "x" * 300),
    "media-type-with-newline": _manifest(layers=[{**_LAYER, "mediaType": "text/plain\n"}]),
}


@pytest.mark.parametrize("body", INVALID_MANIFESTS.values(), ids=INVALID_MANIFESTS.keys())
async def test_invalid_manifest(client: httpx.AsyncClient, blobs: None, body: bytes) -> None:
    assert_oci_error(await put_manifest(client, NAME, "bad", body), 400, "MANIFEST_INVALID")
    assert (await client.get(f"/v2/{NAME}/manifests/bad")).status_code == 404


async def test_media_type_disagreeing_with_content_type(
    client: httpx.AsyncClient, blobs: None
) -> None:
    r = await put_manifest(client, NAME, "bad", MANIFEST, OCI_INDEX)
    assert_oci_error(r, 400, "MANIFEST_INVALID")


async def test_descriptor_size_not_matching_the_blob(
    client: httpx.AsyncClient, blobs: None
) -> None:
    body = _manifest(layers=[{**_LAYER, "size": len(LAYER) + 1}])
    r = await put_manifest(client, NAME, "bad", body)
    assert_oci_error(r, 400, ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"])


@pytest.mark.parametrize("missing", ["config", "layer"])
async def test_manifest_referencing_a_missing_blob(client: httpx.AsyncClient, missing: str) -> None:
    await push_blob(client, NAME, LAYER if missing == "config" else CONFIG)
    r = await put_manifest(client, NAME, "v1", MANIFEST)
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert (await client.get(f"/v2/{NAME}/manifests/v1")).status_code == 404


async def test_manifest_referencing_a_blob_of_another_repository(
    client: httpx.AsyncClient,
) -> None:
    await push_blob(client, "library/other", CONFIG)
    await push_blob(client, "library/other", LAYER)
    r = await put_manifest(client, NAME, "v1", MANIFEST)
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


async def test_index_referencing_a_missing_manifest(client: httpx.AsyncClient) -> None:
    _, present = await push_image(client, NAME, "present")
    absent = encode(image_manifest(CONFIG, [b"never pushed"]))
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, present), descriptor(OCI_MANIFEST, absent)],
        }
    )
    r = await put_manifest(client, NAME, "multi", index, OCI_INDEX)
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


async def test_index_referencing_a_manifest_of_another_repository(
    client: httpx.AsyncClient,
) -> None:
    _, elsewhere = await push_image(client, "library/other", "v1")
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, elsewhere)],
        }
    )
    r = await put_manifest(client, NAME, "multi", index, OCI_INDEX)
    assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


# --- manifest size -------------------------------------------------------------------------

FOUR_MIB = 4 * 1024 * 1024


def padded_manifest(size: int) -> bytes:
    """A valid manifest (of CONFIG and LAYER) of exactly ``size`` bytes."""
    bare = _manifest(annotations={"pad": ""})
    body = _manifest(annotations={"pad": "x" * (size - len(bare))})
    assert len(body) == size
    return body


async def test_manifest_of_4_mib_is_accepted(client: httpx.AsyncClient, blobs: None) -> None:
    body = padded_manifest(FOUR_MIB)
    r = await put_manifest(client, NAME, "big", body)
    assert r.status_code == 201, r.text
    assert (await client.get(f"/v2/{NAME}/manifests/big")).content == body


async def test_manifest_over_4_mib_is_413(client: httpx.AsyncClient, blobs: None) -> None:
    r = await put_manifest(client, NAME, "huge", padded_manifest(FOUR_MIB + 1))
    assert_oci_error(r, 413, "SIZE_INVALID")
    assert (await client.get(f"/v2/{NAME}/manifests/huge")).status_code == 404


async def test_streamed_manifest_over_4_mib_is_413(client: httpx.AsyncClient, blobs: None) -> None:
    body = padded_manifest(FOUR_MIB + 1)

    async def pieces() -> AsyncIterator[bytes]:  # no Content-Length to check up front
        for start in range(0, len(body), 512 * 1024):
            yield body[start : start + 512 * 1024]

    r = await client.put(
        f"/v2/{NAME}/manifests/huge", content=pieces(), headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(r, 413, "SIZE_INVALID")


@pytest.fixture
def small_manifest_limit(settings: Settings) -> int:
    """Lower the manifest limit before the app is built (request this before ``client``)."""
    settings.limits.manifest_max_bytes = 1024
    return settings.limits.manifest_max_bytes


async def test_configured_manifest_limit(
    small_manifest_limit: int, client: httpx.AsyncClient, blobs: None
) -> None:
    r = await put_manifest(client, NAME, "over", padded_manifest(small_manifest_limit + 1))
    assert_oci_error(r, 413, "SIZE_INVALID")
    r = await put_manifest(client, NAME, "at", padded_manifest(small_manifest_limit))
    assert r.status_code == 201, r.text


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_range", ["abc", "5-2", "-5", "0-", "0-4-8", "a-b", "0 - 4", "0-4,5-9"]
)
async def test_malformed_content_range(client: httpx.AsyncClient, content_range: str) -> None:
    location = await start_upload(client, NAME)
    r = await client.patch(location, content=b"01234", headers={"Content-Range": content_range})
    assert_oci_error(r, 400, "BLOB_UPLOAD_INVALID")
    assert (await client.get(location)).status_code == 204  # the session survives


UNKNOWN_UPLOADS = {
    "unknown": uuid.uuid4().hex,
    "dashed-uuid": str(uuid.uuid4()),
    "not-an-id": "not-an-id",
    "short": "0" * 31,
    "uppercase": "Z" * 32,
    "long": "a" * 300,
}


@pytest.mark.parametrize("upload_id", UNKNOWN_UPLOADS.values(), ids=UNKNOWN_UPLOADS.keys())
async def test_unknown_upload(client: httpx.AsyncClient, upload_id: str) -> None:
    await start_upload(client, NAME)  # the repository exists, this session does not
    path = f"/v2/{NAME}/blobs/uploads/{upload_id}"
    for r in (
        await client.get(path),
        await client.patch(path, content=b"chunk", headers={"Content-Range": "0-4"}),
        await client.patch(path, content=b"chunk"),
        await client.put(path, params={"digest": digest_of(b"chunk")}, content=b"chunk"),
        await client.delete(path),
    ):
        assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


async def test_upload_of_another_repository(client: httpx.AsyncClient) -> None:
    location = await start_upload(client, "library/owner")
    upload_id = location.rstrip("/").rsplit("/", 1)[1].split("?")[0]
    path = f"/v2/{NAME}/blobs/uploads/{upload_id}"
    await start_upload(client, NAME)
    for r in (
        await client.get(path),
        await client.patch(path, content=b"chunk", headers={"Content-Range": "0-4"}),
        await client.put(path, params={"digest": digest_of(b"chunk")}, content=b"chunk"),
        await client.delete(path),
    ):
        assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    # The owner's session is untouched and still completes.
    r = await client.put(location, params={"digest": digest_of(b"mine")}, content=b"mine")
    assert r.status_code == 201, r.text
    assert_oci_error(
        await client.get(f"/v2/{NAME}/blobs/{digest_of(b'mine')}"), 404, "BLOB_UNKNOWN"
    )


# --- tags ----------------------------------------------------------------------------------

INVALID_TAGS = {
    "leading-dash": "-bad",
    "leading-dot": ".bad",
    "too-long": "a" * 129,
    "space": "bad%20tag",
    "plus": "bad+tag",
    "unicode": "caf%C3%A9",
}


@pytest.mark.parametrize("tag", INVALID_TAGS.values(), ids=INVALID_TAGS.keys())
async def test_invalid_tag(client: httpx.AsyncClient, blobs: None, tag: str) -> None:
    assert_oci_error(await put_manifest(client, NAME, tag, MANIFEST), 400)
    assert_oci_error(await client.get(f"/v2/{NAME}/manifests/{tag}"), 400)
    assert_oci_error(await client.delete(f"/v2/{NAME}/manifests/{tag}"), 400)
    assert (await client.head(f"/v2/{NAME}/manifests/{tag}")).status_code == 400


async def test_longest_valid_tag(client: httpx.AsyncClient, blobs: None) -> None:
    tag = "_" + "a" * 127
    assert (await put_manifest(client, NAME, tag, MANIFEST)).status_code == 201
    assert (await client.get(f"/v2/{NAME}/manifests/{tag}")).content == MANIFEST
    assert (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == [tag]


# --- pagination ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", "1e3"])
@pytest.mark.parametrize("path", [f"/v2/{NAME}/tags/list", "/v2/_catalog"], ids=["tags", "catalog"])
async def test_invalid_page_size(client: httpx.AsyncClient, path: str, n: str) -> None:
    await push_image(client, NAME, "v1")
    assert_oci_error(await client.get(path, params={"n": n}), 400)


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v2/library/bad/unknown", "/v2/library/bad/blobs", "/v2/library/bad/manifests/", "/nope"],
)
async def test_unknown_endpoint_is_404_json(client: httpx.AsyncClient, path: str) -> None:
    assert_oci_error(await client.get(path), 404)


WRONG_METHODS = {
    "POST manifest": ("POST", f"/v2/{NAME}/manifests/latest"),
    "PATCH tags": ("PATCH", f"/v2/{NAME}/tags/list"),
    "PUT blob": ("PUT", f"/v2/{NAME}/blobs/{SOME_DIGEST}"),
    "POST referrers": ("POST", f"/v2/{NAME}/referrers/{SOME_DIGEST}"),
    "DELETE base": ("DELETE", "/v2/"),
    "PUT catalog": ("PUT", "/v2/_catalog"),
}


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS.values(), ids=WRONG_METHODS.keys())
async def test_wrong_method_is_405(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert_oci_error(await client.request(method, path), 405)


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS.values(), ids=WRONG_METHODS.keys())
async def test_wrong_method_names_the_allowed_ones(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """RFC 9110 15.5.6: a 405 response MUST carry an Allow header."""
    r = await client.request(method, path)
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert "GET" in allowed, r.headers
    assert method not in allowed


@pytest.fixture
def few_sessions(settings: Settings) -> Settings:
    settings.limits.upload_sessions_per_repository = 2
    return settings


async def test_too_many_open_uploads_is_429(
    few_sessions: Settings, client: httpx.AsyncClient
) -> None:
    first = await client.post("/v2/library/busy/blobs/uploads/")
    second = await client.post("/v2/library/busy/blobs/uploads/")
    assert first.status_code == second.status_code == 202
    third = await client.post("/v2/library/busy/blobs/uploads/")
    assert_oci_error(third, 429, "TOOMANYREQUESTS")
    assert third.headers["Retry-After"] == "1"
    # Another repository is not affected, and finishing one upload makes room again.
    assert (await client.post("/v2/library/other/blobs/uploads/")).status_code == 202
    assert (await client.delete(first.headers["Location"])).status_code == 204
    assert (await client.post("/v2/library/busy/blobs/uploads/")).status_code == 202


async def test_non_ascii_digits_in_n_are_a_bad_request_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    # str.isdigit() is true of "¹", which int() refuses.
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": "¹"})
    assert_oci_error(r, 400, "UNSUPPORTED")
