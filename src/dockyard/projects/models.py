"""Projects, their members, and the repositories inside them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # Anyone, logged in or not, may pull from a public project.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Harbor's free-form project metadata (auto_scan, severity, ...), a JSON object of strings.
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    # Bytes the project may store; -1 is unlimited.
    storage_limit: Mapped[int] = mapped_column(BigInteger, default=-1)
    # Artifacts (manifests) the project may hold; -1 is unlimited.
    count_limit: Mapped[int] = mapped_column(BigInteger, default=-1, server_default="-1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProjectMember(Base):
    """A user ("u") or a group ("g") with a role in a project."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(1))
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    # The full name, project included: "library/team/app".
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImmutableRule(Base):
    """A project's immutable tag rule: the tags it covers cannot be moved or deleted."""

    __tablename__ = "immutable_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Doublestar patterns over the repository's name inside the project, and the tag.
    repository_pattern: Mapped[str] = mapped_column(String(255))
    # "repoMatches" or "repoExcludes".
    repository_decoration: Mapped[str] = mapped_column(String(16))
    tag_pattern: Mapped[str] = mapped_column(String(255))
    # "matches" or "excludes".
    tag_decoration: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProjectUsage(Base):
    """What a project uses, kept exact by every change (projects/quotas.py): the bytes of
    the distinct blobs its repositories hold, and its artifacts (manifests)."""

    __tablename__ = "project_usage"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    storage_used: Mapped[int] = mapped_column(BigInteger, default=0)
    artifact_count: Mapped[int] = mapped_column(BigInteger, default=0)


class ProjectBlob(Base):
    """A blob that some repository of the project holds, counted once in its usage."""

    __tablename__ = "project_blobs"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class RetentionPolicy(Base):
    """A project's tag retention policy: its rules (Harbor's, as JSON) and its schedule."""

    __tablename__ = "retention_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    rules: Mapped[str] = mapped_column(Text, default="[]")
    # Harbor's six cron fields; empty: run by hand only.
    cron: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RetentionOutcome(Base):
    """What a retention run (a job) did, or would do, with one artifact, and why."""

    __tablename__ = "retention_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("jobs.id", ondelete="CASCADE"),
        index=True,
    )
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(160))
    tags: Mapped[str] = mapped_column(Text, default="[]")
    kept: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(1024))
