"""Small OCI image manifests that reference one config and one layer blob.

Every tag gets its own manifest (an annotation carries the tag), so each PUT
stores a new manifest and each GET by tag resolves a different one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.client import RegistryClient
from bench.errors import BenchError
from bench.loadgen import PreparedRequest, burst, prepare
from bench.payload import BlobSource

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
_LAYER_BYTES = 32 * 1024
_ANNOTATION = "dev.dockyard.bench.tag"


@dataclass(frozen=True)
class ImageBlobs:
    """The config and layer descriptors every manifest points at."""

    config: dict[str, object]
    layer: dict[str, object]


@dataclass(frozen=True)
class TaggedRepository:
    """A repository holding ``tags``, each naming its own manifest."""

    name: str
    tags: list[str]
    manifests: dict[str, bytes]


def tag(index: int) -> str:
    """The tag of manifest number ``index``."""
    return f"v{index:05d}"


def push_image_blobs(
    client: RegistryClient, repository: str, source: BlobSource, stream: int
) -> ImageBlobs:
    """Push one layer and one config blob into ``repository``."""
    layer = source.blob(_LAYER_BYTES, stream)
    client.push(repository, layer, source)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = client.push_bytes(repository, config)
    return ImageBlobs(
        config={"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        layer={"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size},
    )


def manifest(blobs: ImageBlobs, tag_name: str) -> bytes:
    """The manifest stored under ``tag_name``."""
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": blobs.config,
        "layers": [blobs.layer],
        "annotations": {_ANNOTATION: tag_name},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def manifest_puts(
    address: str, repository: str, manifests: dict[str, bytes], headers: dict[str, str]
) -> list[PreparedRequest]:
    """One PUT by tag per manifest, each expecting 201; ``headers`` go with each."""
    return [
        prepare(
            "PUT",
            f"/v2/{repository}/manifests/{tag_name}",
            address,
            201,
            {"Content-Type": MANIFEST_TYPE, **headers},
            body,
        )
        for tag_name, body in manifests.items()
    ]


def check_tags(client: RegistryClient, repository: str, expected: list[str]) -> None:
    """Fail unless tags/list answers exactly ``expected``, unpaginated."""
    path = f"/v2/{repository}/tags/list"
    response, body = client.get(path, "application/json")
    listed = json.loads(body).get("tags") or []
    if response.getheader("Link"):
        raise BenchError(f"GET {path} paginated the tags ({len(listed)} on the first page)")
    if sorted(listed) != sorted(expected):
        missing = sorted(set(expected) - set(listed))[:5]
        raise BenchError(
            f"GET {path} listed {len(listed)} tags, expected {len(expected)}; "
            f"missing e.g. {missing}"
        )


def seed(
    client: RegistryClient,
    repository: str,
    blobs: ImageBlobs,
    count: int,
    connections: int,
) -> TaggedRepository:
    """Push ``count`` tagged manifests (not timed) and check they are all listed."""
    address = f"{client.host}:{client.port}"
    manifests = {tag(i): manifest(blobs, tag(i)) for i in range(count)}
    puts = manifest_puts(address, repository, manifests, client.headers)
    burst(client.host, client.port, puts, connections)
    check_tags(client, repository, list(manifests))
    return TaggedRepository(repository, list(manifests), manifests)
