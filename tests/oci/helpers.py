"""Small builders for blobs and manifests used across the data-plane tests."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


async def push_blob(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    """Monolithic upload (POST with ?digest=); returns the digest."""
    digest = digest_of(data)
    r = await client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        **extra,
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


async def push_image(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    *,
    config: bytes = b'{"architecture":"amd64","os":"linux"}',
    layers: tuple[bytes, ...] = (b"layer-one",),
    **extra: Any,
) -> tuple[str, bytes]:
    """Push the blobs and the manifest of a small image; returns (digest, manifest bytes)."""
    await push_blob(client, name, config)
    for layer in layers:
        await push_blob(client, name, layer)
    body = encode(image_manifest(config, list(layers), **extra))
    r = await client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"], body


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


# The codes the Distribution Specification allows in an error body: its "Error Codes"
# table and the legacy Docker codes it says clients may meet.
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
        # "Legacy Docker support error codes": clients MAY encounter these too.
        "TAG_INVALID",
        "MANIFEST_UNVERIFIED",
    }
)


def assert_oci_error(
    response: httpx.Response, status: int, code: str | Iterable[str] | None = None
) -> list[str]:
    """Assert the status and that the body is the spec's error JSON carrying ``code``.

    ``code`` may be one code, several acceptable ones, or None for "any code of
    the spec". Returns the codes in the body.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("content-type", "").split(";")[0] == "application/json"
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("errors"), list), body
    assert body["errors"], body
    codes = []
    for error in body["errors"]:
        assert isinstance(error, dict), body
        assert set(error) <= {"code", "message", "detail"}, body
        assert isinstance(error.get("code"), str), body
        assert re.fullmatch(r"[A-Z_]+", error["code"]), body
        assert error["code"] in SPEC_ERROR_CODES, f"{error['code']} is not a spec error code"
        assert isinstance(error.get("message", ""), str), body
        codes.append(error["code"])
    if code is not None:
        wanted = {code} if isinstance(code, str) else set(code)
        assert wanted & set(codes), (codes, wanted)
    return codes


async def put_manifest(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    body: bytes | dict[str, Any],
    media_type: str = OCI_MANIFEST,
) -> httpx.Response:
    """PUT a manifest (a document is encoded first) and return the response, whatever it is."""
    content = encode(body) if isinstance(body, dict) else body
    return await client.put(
        f"/v2/{name}/manifests/{reference}", content=content, headers={"Content-Type": media_type}
    )


async def start_upload(client: httpx.AsyncClient, name: str) -> str:
    """Open an upload session; returns its Location."""
    r = await client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location: str = r.headers["Location"]
    return location


def push_image_over_http(client: httpx.Client, name: str, tag: str, layer: bytes) -> str:
    """Push a one-layer image to a registry process with a blocking client; its digest."""
    config = b'{"architecture":"amd64","os":"linux","created":"2026-11-29T00:00:00Z"}'
    for blob in (config, layer):
        r = client.post(
            f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob
        )
        assert r.status_code == 201, r.text
    r = client.put(
        f"/v2/{name}/manifests/{tag}",
        content=encode(image_manifest(config, [layer])),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    return str(r.headers["Docker-Content-Digest"])
