"""The management view of repositories and artifacts: counts, filters, tags, accessories.

Lists and counts show the artifacts of their own: a manifest that is a child of an
index, or an accessory (a referrer) of an artifact in the same repository, is shown
under its index or its subject instead, as on Harbor, unless someone tagged it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, exists, func, or_, select
from sqlalchemy.orm import aliased

from dockyard.artifacts import mediatypes as mt
from dockyard.artifacts.labels import LabelInfo, labels_of
from dockyard.artifacts.lookup import find_artifact
from dockyard.artifacts.models import ArtifactLabel, Manifest, ManifestReference, Tag
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import InvalidInput, NotFound
from dockyard.projects.immutability import RuleInfo, enabled_rules, immutable_tags
from dockyard.projects.models import Repository
from dockyard.projects.projects import Visibility, visible_projects
from dockyard.projects.services import RepositoryKey, RepositoryService


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    id: int
    project_id: int
    name: str
    artifact_count: int
    created_at: datetime
    # The last push or tag change, else the creation.
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TagInfo:
    id: int
    repository_id: int
    artifact_id: int
    name: str
    pushed_at: datetime
    # An immutable tag rule of the project covers it.
    immutable: bool = False


@dataclass(frozen=True, slots=True)
class Accessory:
    """A manifest whose subject is the artifact: a signature, an SBOM, an attestation."""

    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    kind: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChildReference:
    """A manifest an index lists, with the platform the index says it is for."""

    digest: str
    platform: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    id: int
    project_id: int
    repository_id: int
    repository_name: str
    digest: str
    manifest_media_type: str
    # The config's media type; an index has none and reports its own.
    media_type: str
    artifact_type: str | None
    kind: str
    size: int
    pushed_at: datetime
    # The last pull, recorded within a second or so of it (artifacts/pulls.py).
    pulled_at: datetime | None
    annotations: dict[str, str]
    tags: tuple[TagInfo, ...]
    accessories: tuple[Accessory, ...]
    references: tuple[ChildReference, ...]
    labels: tuple[LabelInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtifactFilter:
    kind: str | None = None
    # True: only tagged artifacts; False: only untagged ones.
    tagged: bool | None = None
    tag: str | None = None
    # Only artifacts that carry every one of these labels.
    labels: tuple[int, ...] = ()


_Parent = aliased(Manifest)
_Subject = aliased(Manifest)
_TAGGED = exists().where(Tag.manifest_id == Manifest.id)
_CHILD = exists().where(
    ManifestReference.digest == Manifest.digest,
    ManifestReference.kind == "manifest",
    ManifestReference.manifest_id == _Parent.id,
    _Parent.repository_id == Manifest.repository_id,
)
_ACCESSORY = exists().where(
    _Subject.repository_id == Manifest.repository_id, _Subject.digest == Manifest.subject_digest
)
# The one rule of what lists and counts show (see the module's docstring).
TOP_LEVEL = or_(_TAGGED, ~or_(_CHILD, _ACCESSORY))

_ARTIFACT_COUNT = (
    select(func.count())
    .select_from(Manifest)
    .where(Manifest.repository_id == Repository.id, TOP_LEVEL)
    .scalar_subquery()
)
_LAST_PUSH = (
    select(func.max(Manifest.created_at))
    .where(Manifest.repository_id == Repository.id)
    .scalar_subquery()
)
_LAST_TAG = (
    select(func.max(Tag.updated_at)).where(Tag.repository_id == Repository.id).scalar_subquery()
)
_REPOSITORY_COLUMNS = (
    Repository.id,
    Repository.project_id,
    Repository.name,
    _ARTIFACT_COUNT.label("artifact_count"),
    Repository.created_at,
    _LAST_PUSH.label("last_push"),
    _LAST_TAG.label("last_tag"),
)
_ARTIFACT_COLUMNS = (
    Manifest.id,
    Manifest.digest,
    Manifest.media_type,
    Manifest.artifact_type,
    Manifest.kind,
    Manifest.size,
    Manifest.annotations,
    Manifest.content,
    Manifest.created_at,
    Manifest.pulled_at,
)


class ArtifactCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def repositories(
        self,
        *,
        project_id: int | None = None,
        visibility: Visibility | None = None,
        name: str | None = None,
        offset: int,
        limit: int,
    ) -> tuple[list[RepositoryInfo], int]:
        """Repositories by name, of one project or of those ``visibility`` lets a caller
        see, whose full name contains ``name``; and how many there are."""
        conditions: list[ColumnElement[bool]] = []
        if project_id is not None:
            conditions.append(Repository.project_id == project_id)
        if visibility is not None:
            conditions.append(Repository.project_id.in_(visible_projects(visibility)))
        if name:
            conditions.append(Repository.name.contains(name, autoescape=True))
        query = (
            select(*_REPOSITORY_COLUMNS)
            .where(*conditions)
            .order_by(Repository.name)
            .offset(offset)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            total = await conn.scalar(
                select(func.count()).select_from(Repository).where(*conditions)
            )
        return [_repository(row) for row in rows], int(total or 0)

    async def repository(self, name: str) -> RepositoryInfo:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(*_REPOSITORY_COLUMNS).where(Repository.name == name))
            ).first()
        if row is None:
            raise NotFound(f"repository {name!r} not found")
        return _repository(row)

    async def artifacts(
        self, name: str, filters: ArtifactFilter, *, offset: int, limit: int
    ) -> tuple[list[ArtifactInfo], int]:
        """A repository's artifacts of their own, newest first, filtered; and how many."""
        conditions = [TOP_LEVEL, *_filter_conditions(filters)]
        async with self.db.read() as conn:
            repository = await _repository_key(conn, name)
            conditions.append(Manifest.repository_id == repository.id)
            rows = (
                await conn.execute(
                    select(*_ARTIFACT_COLUMNS)
                    .where(*conditions)
                    .order_by(Manifest.created_at.desc(), Manifest.id.desc())
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
            total = await conn.scalar(select(func.count()).select_from(Manifest).where(*conditions))
            return await _describe(conn, name, repository, rows), int(total or 0)

    async def artifact(self, name: str, reference: str) -> ArtifactInfo:
        """The artifact a tag or a digest names, with its tags, accessories and children."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, name, reference)
            row = (
                await conn.execute(select(*_ARTIFACT_COLUMNS).where(Manifest.id == key.id))
            ).one()
            repository = RepositoryKey(key.repository_id, key.project_id)
            [info] = await _describe(conn, name, repository, [row])
            return info

    async def tags(
        self, name: str, reference: str, *, offset: int, limit: int
    ) -> tuple[list[TagInfo], int]:
        """The tags of the artifact a tag or a digest names, by name; and how many."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, name, reference)
            rows = (
                await conn.execute(
                    select(Tag.id, Tag.repository_id, Tag.manifest_id, Tag.name, Tag.updated_at)
                    .where(Tag.manifest_id == key.id)
                    .order_by(Tag.name)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
            total = await conn.scalar(
                select(func.count()).select_from(Tag).where(Tag.manifest_id == key.id)
            )
            immutable = _Immutability(await enabled_rules(conn, key.project_id), name)
        return [immutable.tag(TagInfo(*row)) for row in rows], int(total or 0)


class _Immutability:
    """Marks the tags of repository ``name`` that the project's rules cover."""

    def __init__(self, rules: list[RuleInfo], name: str) -> None:
        self.rules = rules
        self.repository = name.split("/", 1)[1]

    def tag(self, tag: TagInfo) -> TagInfo:
        if self.rules and immutable_tags(self.rules, self.repository, [tag.name]):
            return replace(tag, immutable=True)
        return tag


def _filter_conditions(filters: ArtifactFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.kind is not None:
        kind = filters.kind.lower()
        if kind not in mt.KINDS:
            raise InvalidInput(f"type is one of {', '.join(mt.KINDS)}")
        conditions.append(Manifest.kind == kind)
    if filters.tagged is not None:
        conditions.append(_TAGGED if filters.tagged else ~_TAGGED)
    if filters.tag is not None:
        conditions.append(exists().where(Tag.manifest_id == Manifest.id, Tag.name == filters.tag))
    for label_id in filters.labels:
        conditions.append(
            exists().where(
                ArtifactLabel.manifest_id == Manifest.id, ArtifactLabel.label_id == label_id
            )
        )
    return conditions


async def _repository_key(conn: Conn, name: str) -> RepositoryKey:
    repository = await RepositoryService.locate(conn, name)
    if repository is None:
        raise NotFound(f"repository {name!r} not found")
    return repository


def _repository(row: Row[Any]) -> RepositoryInfo:
    changes = [t for t in (row.created_at, row.last_push, row.last_tag) if t is not None]
    return RepositoryInfo(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        artifact_count=int(row.artifact_count),
        created_at=row.created_at,
        updated_at=max(changes),
    )


async def _describe(
    conn: Conn, name: str, repository: RepositoryKey, rows: Sequence[Row[Any]]
) -> list[ArtifactInfo]:
    """The artifacts of ``rows`` with their tags and accessories, two queries for all."""
    if not rows:
        return []
    tags: dict[int, list[TagInfo]] = {}
    tag_rows = await conn.execute(
        select(Tag.id, Tag.repository_id, Tag.manifest_id, Tag.name, Tag.updated_at)
        .where(Tag.manifest_id.in_([row.id for row in rows]))
        .order_by(Tag.name)
    )
    immutable = _Immutability(await enabled_rules(conn, repository.project_id), name)
    for tag in tag_rows:
        tags.setdefault(tag.manifest_id, []).append(immutable.tag(TagInfo(*tag)))
    accessories: dict[str, list[Accessory]] = {}
    accessory_rows = await conn.execute(
        select(
            Manifest.subject_digest,
            Manifest.id,
            Manifest.digest,
            Manifest.media_type,
            Manifest.artifact_type,
            Manifest.kind,
            Manifest.size,
            Manifest.created_at,
        )
        .where(
            Manifest.repository_id == repository.id,
            Manifest.subject_digest.in_([row.digest for row in rows]),
        )
        .order_by(Manifest.created_at, Manifest.id)
    )
    for subject, *accessory in accessory_rows:
        accessories.setdefault(subject, []).append(Accessory(*accessory))
    labels = await labels_of(conn, [row.id for row in rows])
    infos = []
    for row in rows:
        config_type, children = _content_facts(row.content)
        infos.append(
            ArtifactInfo(
                id=row.id,
                project_id=repository.project_id,
                repository_id=repository.id,
                repository_name=name,
                digest=row.digest,
                manifest_media_type=row.media_type,
                media_type=config_type or row.media_type,
                artifact_type=row.artifact_type,
                kind=row.kind,
                size=int(row.size),
                pushed_at=row.created_at,
                pulled_at=row.pulled_at,
                annotations=orjson.loads(row.annotations) if row.annotations else {},
                tags=tuple(tags.get(row.id, ())),
                accessories=tuple(accessories.get(row.digest, ())),
                references=children,
                labels=tuple(labels.get(row.id, ())),
            )
        )
    return infos


def _content_facts(content: bytes) -> tuple[str | None, tuple[ChildReference, ...]]:
    """The config's media type and an index's children, from a manifest that was checked
    when it was pushed (read leniently: a stored manifest is never refused on a read)."""
    document = orjson.loads(content)
    config = document.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    children = tuple(
        ChildReference(child["digest"], child.get("platform"))
        for child in document.get("manifests") or ()
        if isinstance(child, dict) and isinstance(child.get("digest"), str)
    )
    return config_type if isinstance(config_type, str) else None, children
