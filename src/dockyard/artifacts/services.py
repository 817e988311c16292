"""Artifacts: pushing, pulling and deleting manifests, tags, referrers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, delete, select

from dockyard.artifacts import mediatypes as mt
from dockyard.artifacts.lookup import find_artifact
from dockyard.artifacts.manifests import ParsedManifest, parse_manifest
from dockyard.artifacts.models import Manifest, ManifestReference, Tag
from dockyard.blobs.digests import DEFAULT_ALGORITHM, Digest, is_digest
from dockyard.blobs.services import BlobService, hold_blobs
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.db.statements import LexicalPage, insert_ignore, upsert
from dockyard.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
)
from dockyard.events.services import Actor, record
from dockyard.projects.immutability import check_mutable, check_tag_move
from dockyard.projects.models import Project, Repository
from dockyard.projects.names import validate_tag
from dockyard.projects.quotas import QuotaService, settle
from dockyard.projects.services import RepositoryService
from dockyard.storage import BlobStore


@dataclass(frozen=True, slots=True)
class StoredManifest:
    id: int
    project_id: int
    digest: str
    media_type: str
    size: int
    content: bytes | None  # None when only the head was asked for
    # The artifact's kind, and its project's metadata as stored (JSON text), for the
    # pull policies of the data plane.
    kind: str = "unknown"
    project_metadata: str = "{}"


@dataclass(frozen=True, slots=True)
class TaggedPush:
    """An artifact just pushed under a tag, as the push hooks see it."""

    manifest_id: int
    digest: str
    kind: str
    repository: str
    project_id: int
    tag: str
    # The project's metadata as stored (JSON text).
    project_metadata: str


# Runs inside the push's transaction, after the manifest and its tag are written: what
# it adds (a scan job) exists exactly when the push does.
PushHook = Callable[[Conn, TaggedPush], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    digest: str
    media_type: str
    kind: str
    artifact_type: str | None
    size: int
    tags: tuple[str, ...]
    created_at: datetime


def _manifest_query(*, by_tag: bool, with_content: bool) -> Select[*tuple[Any, ...]]:
    """One of the four pull queries, built once: building a statement per request
    costs more than running it."""
    columns = [
        Manifest.id,
        Repository.project_id,
        Manifest.digest,
        Manifest.media_type,
        Manifest.size,
        Manifest.kind,
        Project.metadata_json,
    ]
    if with_content:
        columns.append(Manifest.content)
    query = select(*columns)
    if by_tag:
        return (
            query.join(Tag, Tag.manifest_id == Manifest.id)
            .join(Repository, Repository.id == Tag.repository_id)
            .join(Project, Project.id == Repository.project_id)
            .where(Repository.name == bindparam("name"), Tag.name == bindparam("reference"))
        )
    return (
        query.join(Repository, Repository.id == Manifest.repository_id)
        .join(Project, Project.id == Repository.project_id)
        .where(Repository.name == bindparam("name"), Manifest.digest == bindparam("reference"))
    )


# A manifest PUT holds what it builds on (its blobs and their links here, its child
# manifests, its subject, the manifest row itself) with a share lock until it commits.
# Garbage collection locks a row exclusively before it re-checks that nothing uses it
# and removes it, so either the PUT's references are there to see, or the PUT finds
# the row gone (or its blob marked ``deleting``) and is refused as unknown content.
_MANIFEST_ID = (
    select(Manifest.id)
    .where(
        Manifest.repository_id == bindparam("repository_id"),
        Manifest.digest == bindparam("digest"),
    )
    .with_for_update(read=True, key_share=True)
)
_PRESENT_MANIFESTS = (
    select(Manifest.digest)
    .where(
        Manifest.repository_id == bindparam("repository_id"),
        Manifest.digest.in_(bindparam("digests", expanding=True)),
    )
    .order_by(Manifest.digest)
    .with_for_update(read=True, key_share=True)
)
_TAGGED_MANIFEST = select(Tag.manifest_id).where(
    Tag.repository_id == bindparam("repository_id"), Tag.name == bindparam("tag")
)
_TAG_PAGE = LexicalPage(Tag.name, Tag.repository_id == bindparam("repository_id"))
_BY_TAG = _manifest_query(by_tag=True, with_content=True)
_HEAD_BY_TAG = _manifest_query(by_tag=True, with_content=False)
_BY_DIGEST = _manifest_query(by_tag=False, with_content=True)
_HEAD_BY_DIGEST = _manifest_query(by_tag=False, with_content=False)


class ManifestService:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: RepositoryService,
        blobs: BlobService,
        quotas: QuotaService,
    ) -> None:
        self.db = db
        self.store = store
        self.repositories = repositories
        self.blobs = blobs
        self.quotas = quotas
        # Filled by the composition root (scan on push).
        self.push_hooks: list[PushHook] = []

    async def push(
        self,
        name: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        actor: Actor | None = None,
    ) -> PushedManifest:
        """Store a manifest under a tag or its digest once everything it references is here;
        with an ``actor``, the audit log records the push."""
        if is_digest(reference):
            expected = Digest.parse(reference)
            digest = Digest.of(body, expected.algorithm)
            if digest != expected:
                raise DigestInvalid(
                    "manifest content does not match the digest in the URL",
                    detail={"digest": reference, "computed": str(digest)},
                )
            tag = None
        else:
            tag = validate_tag(reference)
            digest = Digest.of(body, DEFAULT_ALGORITHM)
        manifest = parse_manifest(body, content_type)
        async with self.quotas.events(), self.db.write() as conn:
            repository = await self.repositories.ensure_key(conn, name)
            manifest_id = await self.add(
                conn, repository.id, str(digest), body, manifest, project_id=repository.project_id
            )
            if tag is not None:
                await self.set_tag(conn, repository.id, tag, manifest_id)
                pushed = TaggedPush(
                    manifest_id,
                    str(digest),
                    manifest.kind,
                    name,
                    repository.project_id,
                    tag,
                    repository.project_metadata,
                )
                for hook in self.push_hooks:
                    await hook(conn, pushed)
            if actor is not None:
                await record(
                    conn,
                    actor,
                    "push",
                    "artifact",
                    f"{name}:{tag}" if tag else f"{name}@{digest}",
                    project_id=repository.project_id,
                    detail={"digest": str(digest)},
                )
        return PushedManifest(str(digest), manifest.subject.digest if manifest.subject else None)

    async def add(
        self,
        conn: Conn,
        repository_id: int,
        digest: str,
        body: bytes,
        manifest: ParsedManifest,
        *,
        project_id: int,
    ) -> int:
        """Store a manifest in a repository of project ``project_id`` (in ``conn``'s write
        transaction) once the blobs and child manifests it references are there, and
        count it in the project's quota (QuotaExceeded when it has no room); its row id."""
        empty = await self._check_references(conn, repository_id, manifest)
        if manifest.subject is not None:
            # Held so that collection of an untagged subject sees this referrer.
            await conn.execute(
                _PRESENT_MANIFESTS,
                {"repository_id": repository_id, "digests": [manifest.subject.digest]},
            )
        manifest_id, inserted = await self._insert(conn, repository_id, digest, body, manifest)
        if inserted or empty:
            await settle(
                conn,
                project_id,
                digests=[mt.EMPTY_DIGEST] if empty else (),
                artifacts=1 if inserted else 0,
            )
        return manifest_id

    @staticmethod
    async def set_tag(conn: Conn, repository_id: int, tag: str, manifest_id: int) -> None:
        """Point a tag at a manifest, moving it if it pointed elsewhere, unless an
        immutable tag rule covers it (Denied)."""
        await check_tag_move(conn, repository_id, tag, manifest_id, _TAGGED_MANIFEST)
        await conn.execute(
            upsert(conn, Tag, ["repository_id", "name"], ["manifest_id", "updated_at"]),
            {
                "repository_id": repository_id,
                "name": tag,
                "manifest_id": manifest_id,
                "updated_at": utcnow(),
            },
        )

    async def _check_references(
        self, conn: Conn, repository_id: int, manifest: ParsedManifest
    ) -> bool:
        """Refuse a manifest whose blobs or children are missing; whether it uses the
        empty blob (recorded and linked here if need be)."""
        wanted = {d.digest: d for d in manifest.blob_references}
        empty = mt.EMPTY_DIGEST in wanted
        if empty:
            await self._ensure_empty_blob(conn, repository_id)
        if wanted:
            sizes = await hold_blobs(conn, repository_id, wanted)
            for digest, descriptor in wanted.items():
                if digest not in sizes:
                    raise ManifestBlobUnknown(
                        f"blob {digest} is not in this repository", detail={"digest": digest}
                    )
                if sizes[digest] != descriptor.size:
                    raise ManifestInvalid(
                        f"descriptor of {digest} says {descriptor.size} bytes, "
                        f"the blob has {sizes[digest]}",
                        detail={"digest": digest},
                    )
        children = {d.digest for d in manifest.manifests}
        if children:
            found = set(
                (
                    await conn.scalars(
                        _PRESENT_MANIFESTS,
                        {"repository_id": repository_id, "digests": list(children)},
                    )
                ).all()
            )
            missing = sorted(children - found)
            if missing:
                raise ManifestBlobUnknown(
                    f"manifest {missing[0]} is not in this repository",
                    detail={"digest": missing[0]},
                )
        return empty

    async def _ensure_empty_blob(self, conn: Conn, repository_id: int) -> None:
        """The empty config ``{}`` is known content; hold it even if a client never uploaded it."""
        await self.blobs.record(conn, repository_id, mt.EMPTY_DIGEST, len(mt.EMPTY_CONTENT))
        if await self.store.stat(mt.EMPTY_DIGEST) is None:
            await self.store.put(mt.EMPTY_DIGEST, mt.EMPTY_CONTENT)

    async def _insert(
        self,
        conn: Conn,
        repository_id: int,
        digest: str,
        body: bytes,
        manifest: ParsedManifest,
    ) -> tuple[int, bool]:
        """The manifest's row id, and whether it is new."""
        row = {
            "repository_id": repository_id,
            "digest": digest,
            "media_type": manifest.media_type,
            "artifact_type": manifest.artifact_type,
            "kind": manifest.kind,
            "subject_digest": manifest.subject.digest if manifest.subject else None,
            "annotations": orjson.dumps(manifest.annotations).decode()
            if manifest.annotations
            else None,
            "size": len(body),
            "content": body,
            "created_at": utcnow(),
        }
        key = {"repository_id": repository_id, "digest": digest}
        manifest_id = None
        inserted = False
        # Twice at most: an existing row that garbage collection removes between the
        # insert and the (locking) select is inserted again.
        for _ in range(2):
            result = await conn.execute(
                insert_ignore(conn, Manifest, ["repository_id", "digest"]), row
            )
            inserted = result.rowcount == 1
            manifest_id = await conn.scalar(_MANIFEST_ID, key)
            if manifest_id is not None:
                break
        assert manifest_id is not None  # inserted or found just above
        references = [
            {"manifest_id": manifest_id, "digest": d.digest, "kind": "blob"}
            for d in manifest.blob_references
        ] + [
            {"manifest_id": manifest_id, "digest": d.digest, "kind": "manifest"}
            for d in manifest.manifests
        ]
        if references:
            unique = list({r["digest"]: r for r in references}.values())
            await conn.execute(
                insert_ignore(conn, ManifestReference, ["manifest_id", "digest"]),
                unique,
            )
        return int(manifest_id), inserted

    async def get(self, name: str, reference: str, *, with_content: bool = True) -> StoredManifest:
        """A manifest by tag or digest; ManifestUnknown when the repository has no such thing."""
        if is_digest(reference):
            Digest.parse(reference)
            query = _BY_DIGEST if with_content else _HEAD_BY_DIGEST
        else:
            validate_tag(reference)
            query = _BY_TAG if with_content else _HEAD_BY_TAG
        async with self.db.read() as conn:
            row = (await conn.execute(query, {"name": name, "reference": reference})).first()
        if row is None:
            raise ManifestUnknown(detail={"name": name, "reference": reference})
        return StoredManifest(
            id=row.id,
            project_id=row.project_id,
            digest=row.digest,
            media_type=row.media_type,
            size=row.size,
            content=row.content if with_content else None,
            kind=row.kind,
            project_metadata=row.metadata_json,
        )

    async def delete(self, name: str, reference: str, actor: Actor | None = None) -> None:
        """By tag: remove only the tag. By digest: remove the artifact and all its tags.
        With an ``actor``, the audit log records the deletion."""
        if is_digest(reference):
            await self.delete_artifact(name, reference, actor)
            return
        validate_tag(reference)
        async with self.db.write() as conn:
            repository = await self.repositories.locate(conn, name)
            deleted = 0
            if repository is not None:
                result = await conn.execute(
                    delete(Tag).where(Tag.repository_id == repository.id, Tag.name == reference)
                )
                deleted = result.rowcount
            if repository is None or not deleted:
                raise ManifestUnknown(detail={"name": name, "reference": reference})
            await check_mutable(conn, repository.project_id, name, [reference], "delete")
            if actor is not None:
                resource = f"{name}:{reference}"
                await record(
                    conn, actor, "delete", "tag", resource, project_id=repository.project_id
                )

    async def delete_artifact(self, name: str, reference: str, actor: Actor | None = None) -> str:
        """Remove the artifact a tag or a digest names, with all its tags; its digest.
        The blobs stay in storage for garbage collection."""
        async with self.db.write() as conn:
            artifact = await find_artifact(conn, name, reference)
            tags = await conn.scalars(select(Tag.name).where(Tag.manifest_id == artifact.id))
            tag_names = sorted(tags)
            await check_mutable(conn, artifact.project_id, name, tag_names, "delete")
            # The foreign keys cascade to the manifest's tags and references.
            deleted = await conn.execute(delete(Manifest).where(Manifest.id == artifact.id))
            await settle(conn, artifact.project_id, artifacts=-deleted.rowcount)
            if actor is not None:
                await record(
                    conn,
                    actor,
                    "delete",
                    "artifact",
                    f"{name}@{artifact.digest}",
                    project_id=artifact.project_id,
                    detail={"tags": tag_names},
                )
        return artifact.digest

    async def tags(self, name: str, limit: int | None, last: str | None) -> list[str]:
        async with self.db.read() as conn:
            repository_id = await self.repositories.find(conn, name)
            if repository_id is None:
                raise NameUnknown(detail={"name": name})
            return await _TAG_PAGE.fetch(conn, last, limit, repository_id=repository_id)

    async def referrers(
        self, name: str, digest: str, artifact_type: str | None
    ) -> list[dict[str, object]]:
        """Descriptors of the manifests whose subject is ``digest``, oldest first."""
        Digest.parse(digest)
        query = (
            select(
                Manifest.media_type,
                Manifest.digest,
                Manifest.size,
                Manifest.artifact_type,
                Manifest.annotations,
            )
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Repository.name == name, Manifest.subject_digest == digest)
            .order_by(Manifest.created_at, Manifest.id)
        )
        if artifact_type:
            query = query.where(Manifest.artifact_type == artifact_type)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        descriptors: list[dict[str, object]] = []
        for media_type, ref_digest, size, ref_type, ref_annotations in rows:
            descriptor: dict[str, object] = {
                "mediaType": media_type,
                "digest": ref_digest,
                "size": size,
            }
            if ref_type:
                descriptor["artifactType"] = ref_type
            if ref_annotations:
                descriptor["annotations"] = orjson.loads(ref_annotations)
            descriptors.append(descriptor)
        return descriptors

    async def artifacts(self, name: str, *, untagged_only: bool = False) -> list[ArtifactSummary]:
        """Every artifact of a repository with its tags, newest first."""
        async with self.db.read() as conn:
            repository_id = await self.repositories.find(conn, name)
            if repository_id is None:
                raise NameUnknown(detail={"name": name})
            manifests = (
                await conn.execute(
                    select(
                        Manifest.id,
                        Manifest.digest,
                        Manifest.media_type,
                        Manifest.kind,
                        Manifest.artifact_type,
                        Manifest.size,
                        Manifest.created_at,
                    )
                    .where(Manifest.repository_id == repository_id)
                    .order_by(Manifest.created_at.desc(), Manifest.id.desc())
                )
            ).all()
            tag_rows = (
                await conn.execute(
                    select(Tag.manifest_id, Tag.name)
                    .where(Tag.repository_id == repository_id)
                    .order_by(Tag.name)
                )
            ).all()
        tags: dict[int, list[str]] = {}
        for manifest_id, tag_name in tag_rows:
            tags.setdefault(manifest_id, []).append(tag_name)
        summaries = [
            ArtifactSummary(
                digest=row.digest,
                media_type=row.media_type,
                kind=row.kind,
                artifact_type=row.artifact_type,
                size=int(row.size),
                tags=tuple(tags.get(row.id, ())),
                created_at=row.created_at,
            )
            for row in manifests
        ]
        return [s for s in summaries if not (untagged_only and s.tags)]
