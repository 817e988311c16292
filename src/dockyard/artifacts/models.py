"""Manifests (artifacts), what they reference, and the tags that point at them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class Manifest(Base):
    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifests_repository_id_subject", "repository_id", "subject_digest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(160))
    media_type: Mapped[str] = mapped_column(String(255))
    # artifactType, else config.mediaType: what the referrers API reports.
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    # The category: image, index, chart, cnab, sif, wasm, signature, sbom, unknown.
    kind: Mapped[str] = mapped_column(String(32))
    subject_digest: Mapped[str | None] = mapped_column(String(160))
    # The manifest's annotations as JSON, for referrer descriptors.
    annotations: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The last pull by GET, written in batches (artifacts/pulls.py); None: never pulled.
    pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ManifestReference(Base):
    """A blob (config, layer) or a child manifest that a manifest needs."""

    __tablename__ = "manifest_references"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(160), primary_key=True, index=True)
    # "blob" or "manifest".
    kind: Mapped[str] = mapped_column(String(16))


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# tags/list walks a repository's tags in the spec's lexical order; this index
# hands them over in that order without a sort.
Index("ix_tags_repository_id_lexical", Tag.repository_id, func.lower(Tag.name), Tag.name)


class Label(Base):
    """A label: global (``project_id`` None, managed by system admins) or of one project.

    Names are unique among the global labels and within each project.
    """

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        Index(
            "uq_labels_global_name",
            "name",
            unique=True,
            sqlite_where=text("project_id IS NULL"),
            postgresql_where=text("project_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(1024), default="")
    # "#RRGGBB" or "#RGB", or empty.
    color: Mapped[str] = mapped_column(String(7), default="")
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArtifactLabel(Base):
    """A label attached to an artifact (a manifest of a repository)."""

    __tablename__ = "artifact_labels"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[int] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
