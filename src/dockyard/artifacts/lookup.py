"""Finding the artifact that a tag or a digest names in a repository."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from dockyard.artifacts.models import Manifest, Tag
from dockyard.blobs.digests import Digest, is_digest
from dockyard.db.engine import Conn
from dockyard.errors import ManifestUnknown
from dockyard.projects.names import validate_tag
from dockyard.projects.services import RepositoryService

_BY_TAG = (
    select(Manifest.id, Manifest.digest)
    .join(Tag, Tag.manifest_id == Manifest.id)
    .where(Tag.repository_id == bindparam("repository_id"), Tag.name == bindparam("reference"))
)
_BY_DIGEST = select(Manifest.id, Manifest.digest).where(
    Manifest.repository_id == bindparam("repository_id"),
    Manifest.digest == bindparam("reference"),
)
# The same, holding the manifest row (share lock) until the transaction ends: garbage
# collection of untagged artifacts then waits for, and sees, what is added to it.
_HELD_BY_TAG = _BY_TAG.with_for_update(read=True, key_share=True, of=Manifest)
_HELD_BY_DIGEST = _BY_DIGEST.with_for_update(read=True, key_share=True, of=Manifest)


@dataclass(frozen=True, slots=True)
class ArtifactKey:
    """An artifact found by reference: its manifest row, digest, repository and project."""

    id: int
    digest: str
    repository_id: int
    project_id: int


def check_reference(reference: str) -> str:
    """A tag or a digest, validated: TagInvalid or DigestInvalid otherwise."""
    if is_digest(reference):
        return str(Digest.parse(reference))
    return validate_tag(reference)


async def find_artifact(
    conn: Conn, name: str, reference: str, *, hold: bool = False
) -> ArtifactKey:
    """The artifact ``reference`` (a tag or a digest) names in repository ``name``;
    ManifestUnknown when the repository or the artifact does not exist. ``hold``: in
    a write transaction that adds rows pointing at the artifact (a tag, a label), keep
    it from garbage collection until the transaction ends."""
    reference = check_reference(reference)
    repository = await RepositoryService.locate(conn, name)
    if repository is None:
        raise ManifestUnknown(
            f"repository {name!r} not found", detail={"name": name, "reference": reference}
        )
    if is_digest(reference):
        query = _HELD_BY_DIGEST if hold else _BY_DIGEST
    else:
        query = _HELD_BY_TAG if hold else _BY_TAG
    row = (
        await conn.execute(query, {"repository_id": repository.id, "reference": reference})
    ).first()
    if row is None:
        raise ManifestUnknown(
            f"artifact {reference!r} not found in {name!r}",
            detail={"name": name, "reference": reference},
        )
    return ArtifactKey(row.id, row.digest, repository.id, repository.project_id)
