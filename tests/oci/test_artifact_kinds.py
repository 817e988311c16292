"""Every kind of artifact is stored, and recorded with the kind its types say it is.

The manifests below have the shapes the real tools push (docker/buildkit, helm,
cnab-to-oci, apptainer, wasm-to-oci, cosign, notation, oras).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dockyard.registry import Registry
from tests.oci.helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    encode,
    push_blob,
    push_image,
    put_manifest,
)

NAME = "library/kinds"
EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_CONTENT = b"{}"


@dataclass(frozen=True)
class Artifact:
    """A manifest whose config and layers are given as (media type, content) pairs."""

    config: tuple[str, bytes]
    layers: tuple[tuple[str, bytes], ...]
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: str = OCI_MANIFEST

    def document(self, subject: dict[str, Any] | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document["config"] = descriptor(*self.config)
        document["layers"] = [descriptor(*layer) for layer in self.layers]
        if subject:
            document["subject"] = subject
        if self.annotations:
            document["annotations"] = self.annotations
        return document


KINDS: dict[str, tuple[Artifact, str, str | None]] = {
    # id: (artifact, kind, recorded artifact type)
    "oci-image": (
        Artifact((OCI_CONFIG, b'{"architecture":"amd64","os":"linux"}'), ((OCI_LAYER, b"fs"),)),
        "image",
        OCI_CONFIG,
    ),
    "docker-image": (
        Artifact(
            ("application/vnd.docker.container.image.v1+json", b'{"os":"linux"}'),
            (("application/vnd.docker.image.rootfs.diff.tar.gzip", b"docker fs"),),
            media_type="application/vnd.docker.distribution.manifest.v2+json",
        ),
        "image",
        "application/vnd.docker.container.image.v1+json",
    ),
    "helm-chart": (
        Artifact(
            ("application/vnd.cncf.helm.config.v1+json", b'{"name":"mychart","version":"0.1.0"}'),
            (("application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"chart tgz"),),
        ),
        "chart",
        "application/vnd.cncf.helm.config.v1+json",
    ),
    "cnab-config": (
        Artifact(
            ("application/vnd.cnab.config.v1+json", b'{"schemaVersion":"v1.0.0"}'),
            (),
            annotations={"io.cnab.manifest.type": "config"},
        ),
        "cnab",
        "application/vnd.cnab.config.v1+json",
    ),
    "sif": (
        Artifact(
            ("application/vnd.sylabs.sif.config.v1+json", b"{}\n"),
            (("application/vnd.sylabs.sif.layer.v1.sif", b"SIF_MAGIC"),),
        ),
        "sif",
        "application/vnd.sylabs.sif.config.v1+json",
    ),
    "wasm": (
        Artifact(
            ("application/vnd.wasm.config.v0+json", b'{"created":"2024-01-01T00:00:00Z"}'),
            (("application/wasm", b"\x00asm\x01\x00\x00\x00"),),
        ),
        "wasm",
        "application/vnd.wasm.config.v0+json",
    ),
    "cosign-signature-oci-1.1": (
        Artifact(
            (EMPTY, EMPTY_CONTENT),
            (("application/vnd.dev.cosign.simplesigning.v1+json", b'{"critical":{}}'),),
            artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json",
        ),
        "signature",
        "application/vnd.dev.cosign.artifact.sig.v1+json",
    ),
    "notation-signature": (
        Artifact(
            (EMPTY, EMPTY_CONTENT),
            (("application/jose+json", b"jws envelope"),),
            artifact_type="application/vnd.cncf.notary.signature",
        ),
        "signature",
        "application/vnd.cncf.notary.signature",
    ),
    "spdx-sbom": (
        Artifact(
            (EMPTY, EMPTY_CONTENT),
            (("application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}'),),
            artifact_type="application/spdx+json",
        ),
        "sbom",
        "application/spdx+json",
    ),
    "unknown-artifact-type": (
        Artifact(
            ("application/vnd.example.thing.config.v1+json", b'{"thing":true}'),
            (("application/vnd.example.thing.layer.v1+zstd", b"thing data"),),
            artifact_type="application/vnd.example.thing",
        ),
        "unknown",
        "application/vnd.example.thing",
    ),
    "unknown-config-type": (
        Artifact(
            ("application/vnd.unknown.config.v1+json", b"{}\n\n"),
            (("text/plain", b"hello"),),
        ),
        "unknown",
        "application/vnd.unknown.config.v1+json",
    ),
    "empty-config-with-artifact-type": (
        Artifact(
            (EMPTY, EMPTY_CONTENT),
            ((EMPTY, EMPTY_CONTENT),),
            artifact_type="application/vnd.example.readme.v1",
        ),
        "unknown",
        "application/vnd.example.readme.v1",
    ),
}


async def push_artifact(
    client: httpx.AsyncClient,
    artifact: Artifact,
    reference: str,
    subject: dict[str, Any] | None = None,
) -> str:
    """Push the artifact's blobs and manifest; returns the manifest digest."""
    await push_blob(client, NAME, artifact.config[1])
    for _, content in artifact.layers:
        await push_blob(client, NAME, content)
    r = await put_manifest(client, NAME, reference, artifact.document(subject), artifact.media_type)
    assert r.status_code == 201, r.text
    digest: str = r.headers["Docker-Content-Digest"]
    return digest


@pytest.mark.parametrize(("artifact", "kind", "artifact_type"), KINDS.values(), ids=KINDS.keys())
async def test_artifact_kind_is_recorded(
    client: httpx.AsyncClient,
    registry: Registry,
    artifact: Artifact,
    kind: str,
    artifact_type: str | None,
) -> None:
    digest = await push_artifact(client, artifact, "v1")
    pulled = await client.get(f"/v2/{NAME}/manifests/v1")
    assert pulled.status_code == 200
    assert pulled.headers["Content-Type"] == artifact.media_type
    [summary] = await registry.manifests.artifacts(NAME)
    assert (summary.digest, summary.kind, summary.artifact_type, summary.tags) == (
        digest,
        kind,
        artifact_type,
        ("v1",),
    )


async def test_all_kinds_side_by_side_in_one_repository(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    expected = {}
    for tag, (artifact, kind, _) in KINDS.items():
        expected[await push_artifact(client, artifact, tag)] = (kind, (tag,))
    recorded = {a.digest: (a.kind, a.tags) for a in await registry.manifests.artifacts(NAME)}
    assert recorded == expected


async def test_oci_index_is_an_index(client: httpx.AsyncClient, registry: Registry) -> None:
    _, child = await push_image(client, NAME, "amd64")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, child)],
    }
    r = await put_manifest(client, NAME, "multi", index, OCI_INDEX)
    assert r.status_code == 201, r.text
    summaries = {a.digest: a for a in await registry.manifests.artifacts(NAME)}
    summary = summaries[r.headers["Docker-Content-Digest"]]
    assert (summary.kind, summary.artifact_type, summary.tags) == ("index", None, ("multi",))
    assert summaries[digest_of(child)].kind == "image"


async def test_docker_manifest_list_is_an_index(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    docker_list = "application/vnd.docker.distribution.manifest.list.v2+json"
    artifact = KINDS["docker-image"][0]
    child_digest = await push_artifact(client, artifact, "amd64")
    child = (await client.get(f"/v2/{NAME}/manifests/{child_digest}")).content
    document = {
        "schemaVersion": 2,
        "mediaType": docker_list,
        "manifests": [descriptor(artifact.media_type, child)],
    }
    r = await put_manifest(client, NAME, "multi", document, docker_list)
    assert r.status_code == 201, r.text
    summaries = {a.digest: a for a in await registry.manifests.artifacts(NAME)}
    assert summaries[r.headers["Docker-Content-Digest"]].kind == "index"


async def test_cnab_bundle_index(client: httpx.AsyncClient, registry: Registry) -> None:
    """cnab-to-oci pushes the bundle as an index of its config and invocation image."""
    config_digest = await push_artifact(client, KINDS["cnab-config"][0], "config")
    config = (await client.get(f"/v2/{NAME}/manifests/{config_digest}")).content
    _, invocation = await push_image(client, NAME, "invocation", layers=(b"cnab invocation",))
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                **descriptor(OCI_MANIFEST, config),
                "annotations": {"io.cnab.manifest.type": "config"},
            },
            {
                **descriptor(OCI_MANIFEST, invocation),
                "annotations": {"io.cnab.manifest.type": "invocation"},
            },
        ],
        "annotations": {
            "io.cnab.runtime_version": "v1.0.0",
            "org.opencontainers.artifactType": "CNAB",
            "org.opencontainers.image.title": "hello",
        },
    }
    r = await put_manifest(client, NAME, "bundle", document, OCI_INDEX)
    assert r.status_code == 201, r.text
    summaries = {a.digest: a for a in await registry.manifests.artifacts(NAME)}
    assert summaries[r.headers["Docker-Content-Digest"]].kind == "cnab"


async def test_cosign_signature_in_the_tag_scheme(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """What ``cosign sign`` pushes by default: an OCI image config, one simple-signing
    layer, tagged ``sha256-<image digest>.sig``. The config type alone says "image"."""
    image, _ = await push_image(client, NAME, "v1")
    signature = Artifact(
        (OCI_CONFIG, b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers"}}'),
        (("application/vnd.dev.cosign.simplesigning.v1+json", b'{"critical":{"image":{}}}'),),
    )
    document = signature.document()
    document["layers"][0]["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQ=="}
    await push_blob(client, NAME, signature.config[1])
    await push_blob(client, NAME, signature.layers[0][1])
    tag = image.replace(":", "-") + ".sig"
    r = await put_manifest(client, NAME, tag, document)
    assert r.status_code == 201, r.text
    summaries = {a.digest: a for a in await registry.manifests.artifacts(NAME)}
    assert summaries[r.headers["Docker-Content-Digest"]].kind == "signature"


async def test_referrer_with_unknown_type_is_stored_and_listed(client: httpx.AsyncClient) -> None:
    """Unknown artifact, config and layer types are kept, never refused."""
    image, image_body = await push_image(client, NAME, "v1")
    subject = descriptor(OCI_MANIFEST, image_body)
    artifact = KINDS["unknown-artifact-type"][0]
    reference = digest_of(encode(artifact.document(subject)))
    digest = await push_artifact(client, artifact, reference, subject)
    r = await client.get(f"/v2/{NAME}/referrers/{image}")
    assert [(d["digest"], d["artifactType"]) for d in r.json()["manifests"]] == [
        (digest, "application/vnd.example.thing")
    ]
