"""Small builders for blobs and manifests used across the data-plane tests."""

from __future__ import annotations

import hashlib
import json
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
