"""Media types of manifests and of the artifacts they carry, and what kind each one is."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ALL_MANIFEST_TYPES = MANIFEST_TYPES | INDEX_TYPES

OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_CONTENT = b"{}"

# Layers that registries need not hold: clients fetch them from their ``urls``.
NON_DISTRIBUTABLE_PREFIXES = (
    "application/vnd.docker.image.rootfs.foreign.",
    "application/vnd.oci.image.layer.nondistributable.",
)

# Exact artifact or config media types, then prefixes, mapped to an artifact kind.
_KINDS: dict[str, str] = {
    "application/vnd.oci.image.config.v1+json": "image",
    "application/vnd.docker.container.image.v1+json": "image",
    "application/vnd.cncf.helm.config.v1+json": "chart",
    "application/vnd.cnab.config.v1+json": "cnab",
    "application/vnd.cnab.manifest.v1": "cnab",
    "application/vnd.sylabs.sif.config.v1+json": "sif",
    "application/vnd.sylabs.sif.config.v1": "sif",
    "application/vnd.wasm.config.v1+json": "wasm",
    "application/vnd.module.wasm.config.v1+json": "wasm",
    "application/wasm": "wasm",
    "application/vnd.dev.cosign.simplesigning.v1+json": "signature",
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature",
    "application/vnd.cncf.notary.signature": "signature",
    "application/spdx+json": "sbom",
    "text/spdx": "sbom",
    "text/spdx+json": "sbom",
    "application/vnd.cyclonedx+json": "sbom",
    "application/vnd.cyclonedx+xml": "sbom",
    "application/vnd.cyclonedx": "sbom",
    "application/vnd.syft+json": "sbom",
    "application/vnd.dev.cosign.artifact.sbom.v1+json": "sbom",
    "application/vnd.goharbor.harbor.sbom.v1": "sbom",
}
_KIND_PREFIXES = (
    ("application/vnd.cnab.", "cnab"),
    ("application/vnd.sylabs.sif.", "sif"),
    ("application/vnd.wasm.", "wasm"),
    ("application/vnd.cncf.helm.", "chart"),
)
KINDS = ("image", "index", "chart", "cnab", "sif", "wasm", "signature", "sbom", "unknown")


def kind_of(
    artifact_type: str | None,
    manifest_media_type: str,
    annotations: dict[str, str],
    layer_types: tuple[str, ...] = (),
) -> str:
    """The artifact's kind from ``artifactType``, else ``config.mediaType``, else the manifest type.

    ``artifact_type`` is the first of ``artifactType`` and ``config.mediaType``
    that is set; an index has neither unless it declares ``artifactType``.
    """
    if artifact_type:
        kind = _KINDS.get(artifact_type.split(";", 1)[0].strip())
        if kind == "image" and layer_types:
            # cosign's tag scheme wraps signatures and SBOMs in an image config;
            # the layers say what the artifact really is.
            layer_kinds = {_KINDS.get(t) for t in layer_types}
            if len(layer_kinds) == 1 and layer_kinds & {"signature", "sbom"}:
                return layer_kinds.pop() or kind
        if kind:
            return kind
        for prefix, prefix_kind in _KIND_PREFIXES:
            if artifact_type.startswith(prefix):
                return prefix_kind
        return "unknown"
    if manifest_media_type in INDEX_TYPES:
        # A CNAB bundle is an index that says which CNAB runtime it targets.
        return "cnab" if "io.cnab.runtime_version" in annotations else "index"
    return "unknown"
