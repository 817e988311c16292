"""Copying an artifact into another repository, as Harbor's "copy" does: the blobs are
linked (a cross-repository mount, no bytes move), the children of an index and the
accessories come along, and every manifest keeps its digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select

from dockyard.artifacts.lookup import ArtifactKey, find_artifact
from dockyard.artifacts.manifests import parse_manifest
from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.artifacts.services import ManifestService
from dockyard.blobs.digests import Digest
from dockyard.blobs.services import hold_blob_rows, link
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import InvalidInput
from dockyard.events.services import Actor, record
from dockyard.projects.names import validate_name, validate_tag
from dockyard.projects.quotas import settle
from dockyard.projects.services import RepositoryService

# Indexes of indexes are legal; a chain deeper than this is a mistake or an attack.
MAX_DEPTH = 16
_COLUMNS = (Manifest.id, Manifest.digest, Manifest.media_type, Manifest.content)


@dataclass(frozen=True, slots=True)
class CopySource:
    """Harbor's ``from``: ``project/repository@digest`` or ``project/repository:tag``."""

    name: str
    digest: str | None = None
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> CopySource:
        """Checked by the grammar; a name too long to exist is simply not found."""
        if "@" in text:
            name, _, digest = text.partition("@")
            return cls(validate_name(name, len(name)), digest=str(Digest.parse(digest)))
        name, colon, tag = text.rpartition(":")
        if not colon:
            raise InvalidInput("from is project/repository@digest or project/repository:tag")
        return cls(validate_name(name, len(name)), tag=validate_tag(tag))

    @property
    def reference(self) -> str:
        reference = self.digest or self.tag
        assert reference is not None
        return reference

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"


class CopyService:
    def __init__(
        self,
        db: Database,
        repositories: RepositoryService,
        manifests: ManifestService,
        name_max_length: int,
    ) -> None:
        self.db = db
        self.repositories = repositories
        self.manifests = manifests
        self.name_max_length = name_max_length

    async def copy(self, target: str, source: CopySource, actor: Actor) -> str:
        """Copy the artifact ``source`` names into repository ``target``, tagged as the
        source was if it was named by tag; its digest. One transaction: all or nothing."""
        async with self.manifests.quotas.events(), self.db.write() as conn:
            root = await find_artifact(conn, source.name, source.reference)
            validate_name(target, self.name_max_length)
            rows = await _closure(conn, root)
            repository = await self.repositories.ensure_key(conn, target)
            blobs = await conn.scalars(
                select(ManifestReference.digest).where(
                    ManifestReference.manifest_id.in_([row.id for row in rows]),
                    ManifestReference.kind == "blob",
                )
            )
            # Held while the copy's transaction lasts, so that garbage collection
            # cannot take them in between; add() refuses any that are gone.
            held = await hold_blob_rows(conn, set(blobs))
            await link(conn, repository.id, held)
            copied: dict[str, int] = {}
            for row in rows:
                manifest = parse_manifest(row.content, row.media_type)
                copied[row.digest] = await self.manifests.add(
                    conn,
                    repository.id,
                    row.digest,
                    row.content,
                    manifest,
                    project_id=repository.project_id,
                )
            if source.tag is not None:
                await self.manifests.set_tag(conn, repository.id, source.tag, copied[root.digest])
            await record(
                conn,
                actor,
                "create",
                "artifact",
                f"{target}:{source.tag}" if source.tag else f"{target}@{root.digest}",
                project_id=repository.project_id,
                detail={"from": str(source), "digest": root.digest},
            )
            await settle(conn, repository.project_id, digests=held)
        return root.digest


async def _closure(conn: Conn, root: ArtifactKey) -> list[Row[Any]]:
    """The root, its children and accessories, theirs, and so on, in an order where
    every index comes after the manifests it lists."""
    rows = {
        row.digest: row
        for row in await conn.execute(select(*_COLUMNS).where(Manifest.id == root.id))
    }
    children: dict[str, list[str]] = {}
    frontier = list(rows.values())
    for _ in range(MAX_DEPTH):
        parents = {row.id: row.digest for row in frontier}
        edges = await conn.execute(
            select(ManifestReference.manifest_id, ManifestReference.digest).where(
                ManifestReference.manifest_id.in_(list(parents)),
                ManifestReference.kind == "manifest",
            )
        )
        listed: set[str] = set()
        for parent_id, child in edges:
            children.setdefault(parents[parent_id], []).append(child)
            listed.add(child)
        found = await conn.execute(
            select(*_COLUMNS).where(
                Manifest.repository_id == root.repository_id,
                Manifest.digest.in_(list(listed))
                | Manifest.subject_digest.in_(list(parents.values())),
            )
        )
        frontier = [row for row in found if row.digest not in rows]
        rows.update((row.digest, row) for row in frontier)
        if not frontier:
            break
    else:
        raise InvalidInput(f"the artifact nests deeper than {MAX_DEPTH} levels")
    ordered: list[Row[Any]] = []
    placed: set[str] = set()

    def place(digest: str) -> None:
        if digest in placed or digest not in rows:
            return
        placed.add(digest)
        for child in children.get(digest, ()):
            place(child)
        ordered.append(rows[digest])

    for digest in list(rows):
        place(digest)
    return ordered
