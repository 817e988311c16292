"""Attaching a scan's SBOM to the image it describes, as an OCI referrer.

The SBOM is an ordinary artifact in the image's repository: an OCI image manifest
with ``artifactType`` ``application/vnd.cyclonedx+json``, one layer holding the
CycloneDX document, and the image as its ``subject``. Any OCI 1.1 client finds it
through the referrers API (``oras discover``, ``oras pull``). A new scan replaces
the SBOM an earlier scan attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select

from dockyard.artifacts import mediatypes as mt
from dockyard.artifacts.models import Manifest
from dockyard.artifacts.services import ManifestService
from dockyard.blobs.digests import Digest
from dockyard.blobs.uploads import UploadService
from dockyard.db import Database
from dockyard.errors import DockyardError
from dockyard.projects.models import Repository
from dockyard.scanning.reports import CYCLONEDX

# Marks the SBOMs dockyard made, so that a new scan replaces only those.
CREATED_BY = "dev.dockyard.sbom.created-by"


class SbomAttacher:
    def __init__(self, db: Database, uploads: UploadService, manifests: ManifestService) -> None:
        self.db = db
        self.uploads = uploads
        self.manifests = manifests

    async def attach(
        self, repository: str, subject_digest: str, report: dict[str, Any]
    ) -> tuple[str, str]:
        """Push the report's SBOM as a referrer of the image; its digest (empty when it
        could not be attached) and a note for the scan's log."""
        document = report.get("sbom")
        if not isinstance(document, dict) or report.get("media_type") != CYCLONEDX:
            return "", "the scanner's SBOM report holds no CycloneDX document"
        async with self.db.read() as conn:
            subject = (
                await conn.execute(
                    select(Manifest.media_type, Manifest.size)
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(Repository.name == repository, Manifest.digest == subject_digest)
                )
            ).one_or_none()
            earlier = (
                await conn.execute(
                    select(Manifest.digest, Manifest.annotations)
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(
                        Repository.name == repository,
                        Manifest.subject_digest == subject_digest,
                        Manifest.artifact_type == CYCLONEDX,
                    )
                )
            ).all()
        if subject is None:
            return "", "the image was deleted before its SBOM could be attached"
        data = orjson.dumps(document)
        digest = str(Digest.of(data, "sha256"))
        body = orjson.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "artifactType": CYCLONEDX,
                "config": {"mediaType": mt.OCI_EMPTY, "digest": mt.EMPTY_DIGEST, "size": 2},
                "layers": [
                    {
                        "mediaType": CYCLONEDX,
                        "digest": digest,
                        "size": len(data),
                        "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
                    }
                ],
                "subject": {
                    "mediaType": subject.media_type,
                    "digest": subject_digest,
                    "size": subject.size,
                },
                "annotations": {
                    "org.opencontainers.image.created": datetime.now(UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "org.opencontainers.image.description": "CycloneDX SBOM of the image",
                    CREATED_BY: "dockyard",
                },
            }
        )
        try:
            # The document goes in as a client's monolithic upload would.
            await self.uploads.upload_whole(
                repository, Digest.parse(digest), _once(data), len(data)
            )
            manifest_digest = str(Digest.of(body, "sha256"))
            await self.manifests.push(repository, manifest_digest, body, mt.OCI_MANIFEST)
        except DockyardError as exc:
            return "", f"the SBOM was not attached: {exc}"
        for old_digest, old_annotations in earlier:
            if old_digest != manifest_digest and CREATED_BY in orjson.loads(
                old_annotations or "{}"
            ):
                # Gone already, or kept by a rule: the new one is attached either way.
                with contextlib.suppress(DockyardError):
                    await self.manifests.delete_artifact(repository, old_digest)
        return manifest_digest, f"SBOM attached as {repository}@{manifest_digest}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
