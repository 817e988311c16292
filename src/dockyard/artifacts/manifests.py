"""Parsing and validating manifests and indexes as they are pushed.

Only what the registry needs is checked: the JSON shape, the descriptors a
manifest references (they must exist) and the fields that make it an
artifact (artifactType, config, subject, annotations). Unknown media types
of configs, layers and artifacts are kept as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from dockyard.artifacts import mediatypes as mt
from dockyard.blobs.digests import Digest
from dockyard.errors import DockyardError, ManifestInvalid

# RFC 6838 type "/" subtype (127 characters each at most), optionally with parameters
# of printable ASCII, 255 characters in all: what descriptors may carry, and what
# every database can store.
MEDIA_TYPE = re.compile(
    r"^(?=.{3,255}\Z)[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:\s*;\s*[\x21-\x7e]+(?:\s*[\x21-\x7e]+)*)?\Z"
)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    @property
    def distributable(self) -> bool:
        """False for foreign layers, which registries need not hold."""
        return not (self.urls and self.media_type.startswith(mt.NON_DISTRIBUTABLE_PREFIXES))


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    # artifactType, else config.mediaType: what the referrers API reports.
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    @property
    def kind(self) -> str:
        return mt.kind_of(
            self.artifact_type,
            self.media_type,
            self.annotations,
            tuple(layer.media_type for layer in self.layers),
        )

    @property
    def blob_references(self) -> list[Descriptor]:
        """Config and layers that must exist in the repository before this manifest."""
        wanted = ([self.config] if self.config else []) + list(self.layers)
        return [d for d in wanted if d.distributable]


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse a pushed manifest; raise ManifestInvalid saying what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    media_type = _media_type(document, content_type)
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    annotations = _annotations(document.get("annotations"), "annotations")
    subject = _descriptor(document["subject"], "subject") if "subject" in document else None
    artifact_type = _artifact_type(document)
    if media_type in mt.INDEX_TYPES:
        manifests = document.get("manifests")
        if not isinstance(manifests, list):
            raise ManifestInvalid("an index must have a manifests array")
        return ParsedManifest(
            media_type=media_type,
            config=None,
            manifests=tuple(_descriptor(d, f"manifests[{i}]") for i, d in enumerate(manifests)),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in document:
        raise ManifestInvalid("an image manifest must have a config descriptor")
    config = _descriptor(document["config"], "config")
    layers = document.get("layers", [])
    if not isinstance(layers, list):
        raise ManifestInvalid("layers must be an array")
    return ParsedManifest(
        media_type=media_type,
        config=config,
        layers=tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(layers)),
        subject=subject,
        artifact_type=artifact_type or config.media_type,
        annotations=annotations,
    )


def _media_type(document: dict[str, Any], content_type: str | None) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    header = (content_type or "").split(";", 1)[0].strip()
    if declared in mt.DOCKER_SCHEMA1 or header in mt.DOCKER_SCHEMA1:
        raise ManifestInvalid(
            "Docker image manifest schema 1 is deprecated and not accepted; push schema 2 or OCI"
        )
    if header in mt.ALL_MANIFEST_TYPES:
        if declared and declared != header:
            raise ManifestInvalid(f"mediaType {declared!r} does not match Content-Type {header!r}")
        return header
    if declared in mt.ALL_MANIFEST_TYPES:
        return declared
    if declared:
        raise ManifestInvalid(f"unsupported manifest media type {declared!r}")
    # Neither says: the OCI shapes are told apart by their fields.
    return mt.OCI_INDEX if "manifests" in document else mt.OCI_MANIFEST


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not MEDIA_TYPE.match(media_type):
        raise ManifestInvalid(f"{where}.mediaType must be a media type (RFC 6838)")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        Digest.parse(digest)
    except DockyardError as exc:
        raise ManifestInvalid(f"{where}.digest: {exc.message}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}.platform must be an object")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls must be an array of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=_artifact_type(value, where),
        platform=platform,
        urls=tuple(urls),
    )


def _artifact_type(document: dict[str, Any], where: str = "") -> str | None:
    value = _optional_str(document, "artifactType", where)
    if value is not None and not MEDIA_TYPE.match(value):
        raise ManifestInvalid(f"{where + '.' if where else ''}artifactType must be a media type")
    return value


def _optional_str(document: dict[str, Any], key: str, where: str = "") -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid(f"{where + '.' if where else ''}{key} must be a string")
    return value or None


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid(f"{where} must be an object of strings")
    return value
