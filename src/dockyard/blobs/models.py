"""Blobs (stored once), the repositories that link them, and upload sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class Blob(Base):
    """Content in the blob store, known by digest.

    Garbage collection (blobs/gc.py) takes a blob only when no manifest references it
    and nothing used it for a grace period: ``used_at`` is the last upload, mount, or
    HEAD of it while unreferenced. ``deleting`` marks a blob that collection unlinked
    and is removing: nothing sees it any more, and a new upload of it clears the mark.
    """

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleting: Mapped[bool] = mapped_column(default=False, server_default=false())


class RepositoryBlob(Base):
    """A repository may serve this blob: it was pushed, mounted or referenced there."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UploadSession(Base):
    """An upload in progress; its bytes live in the blob store under the same id."""

    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The request writing the session now, and until when its lease holds.
    writer: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
