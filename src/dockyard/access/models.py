"""Users, the groups they belong to, robot accounts, and the token signing key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    realname: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(String(1024), default="")
    # Where the password is checked: "db" (password_hash), "ldap" or "oidc".
    source: Mapped[str] = mapped_column(String(16), default="db")
    # The LDAP DN or the OIDC "issuer|subject" of an external user.
    external_id: Mapped[str | None] = mapped_column(String(1024), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # An OIDC user's password for registry clients (Harbor's "CLI secret").
    cli_secret_hash: Mapped[str | None] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UserGroup(Base):
    """A group of an LDAP directory or an OpenID provider, as projects name it in members."""

    __tablename__ = "user_groups"
    __table_args__ = (UniqueConstraint("kind", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # "ldap" (external_id is the group DN) or "oidc" (external_id is the claim value).
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GroupMembership(Base):
    """Which groups a user was in at their last login (the directory is the truth)."""

    __tablename__ = "group_memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# A robot's full name: the prefix (at most 64 characters), a project's name (255), "+"
# and the robot's own name (128) fit.
ROBOT_NAME_MAX_LENGTH = 512


class Robot(Base):
    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The full login name, prefix included: "robot$ci" or "robot$library+ci".
    name: Mapped[str] = mapped_column(String(ROBOT_NAME_MAX_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    # "system" (permissions on many projects) or "project" (on project_id only).
    level: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    creator: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RobotPermission(Base):
    """What a robot may do in one project, or in every project when ``project_id`` is None."""

    __tablename__ = "robot_permissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # Space-separated "resource:action" pairs from the RBAC table, e.g. "repository:pull".
    actions: Mapped[str] = mapped_column(Text)


class SigningKey(Base):
    """The token service's private key, shared by every replica through the database."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
