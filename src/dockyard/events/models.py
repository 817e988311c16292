"""The event table: one row per push, delete, creation or change, with who and from where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Harbor's audit operations: create, delete, update, push, pull.
    operation: Mapped[str] = mapped_column(String(16))
    # project, repository, artifact, tag, member, robot, user.
    resource_type: Mapped[str] = mapped_column(String(32))
    # What it was done to, e.g. "library/app:v1" or "library/app@sha256:...".
    resource: Mapped[str] = mapped_column(String(1024))
    # No foreign key: the history of a project outlives the project.
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # A user's name, or a robot's full name (up to 512 characters, access/models.py).
    operator: Mapped[str] = mapped_column(String(512))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
