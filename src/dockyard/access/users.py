"""Users: local accounts with Argon2 passwords, and users onboarded from LDAP or OIDC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from dockyard.access.identities import ExternalIdentity
from dockyard.access.models import GroupMembership, User, UserGroup
from dockyard.access.passwords import SecretChecker, hash_secret, new_secret
from dockyard.access.principals import Principal
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.db.statements import insert_ignore
from dockyard.errors import Conflict, Denied, InvalidInput, NotFound
from dockyard.events.services import SYSTEM, Actor, record
from dockyard.projects.models import ProjectMember

ADMIN = "admin"
# Harbor's rule: letters, digits and ._- ; no robot prefix, no spaces, at most 255.
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
_MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    email: str
    realname: str
    comment: str
    source: str
    admin: bool
    created_at: datetime
    updated_at: datetime


# Built once: the token endpoint runs them for every docker login and pull.
_LOCAL_LOGIN = select(User.id, User.password_hash, User.admin).where(
    User.username == bindparam("username"), User.source == "db"
)
_CLI_LOGIN = select(User.id, User.cli_secret_hash, User.admin).where(
    User.username == bindparam("username"), User.source == "oidc"
)
_GROUPS_OF = select(GroupMembership.group_id).where(GroupMembership.user_id == bindparam("user_id"))
_COLUMNS = (
    User.id,
    User.username,
    User.email,
    User.realname,
    User.comment,
    User.source,
    User.admin,
    User.created_at,
    User.updated_at,
)


def _info(row: Any) -> UserInfo:
    return UserInfo(*row)


def check_username(username: str) -> None:
    if not _USERNAME.match(username) or "$" in username:
        raise InvalidInput(
            f"invalid username {username!r}: 1 to 255 letters, digits and . _ @ -,"
            " starting with a letter or digit"
        )


def check_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD or len(password) > 1024:
        raise InvalidInput(f"a password has {_MIN_PASSWORD} to 1024 characters")


class UserService:
    def __init__(self, db: Database, checker: SecretChecker) -> None:
        self.db = db
        self.checker = checker

    async def create(
        self,
        username: str,
        password: str,
        *,
        email: str = "",
        realname: str = "",
        comment: str = "",
        admin: bool = False,
        actor: Actor = SYSTEM,
    ) -> UserInfo:
        check_username(username)
        check_password(password)
        password_hash = await hash_secret(password)
        async with self.db.write() as conn:
            if await self._id_of(conn, username) is not None:
                raise Conflict(f"user {username!r} exists already")
            await conn.execute(
                insert(User),
                {
                    "username": username,
                    "email": email,
                    "realname": realname,
                    "comment": comment,
                    "password_hash": password_hash,
                    "admin": admin,
                    "source": "db",
                },
            )
            await record(conn, actor, "create", "user", username)
            return await self._get(conn, username)

    async def ensure_admin(self, password: str | None) -> str | None:
        """Create the ``admin`` account on first start; returns its password when it was
        generated here (to be shown once), else None."""
        async with self.db.read() as conn:
            if await self._id_of(conn, ADMIN) is not None:
                return None
        generated = None if password else new_secret()
        password_hash = await hash_secret(password or generated or "")
        async with self.db.write() as conn:
            result = await conn.execute(
                insert_ignore(conn, User, ["username"]),
                {
                    "username": ADMIN,
                    "password_hash": password_hash,
                    "admin": True,
                    "source": "db",
                    "realname": "system admin",
                    "email": "",
                    "comment": "",
                },
            )
        # Another process may have created it first; only the winner's password is real.
        return generated if result.rowcount == 1 else None

    async def get(self, username: str) -> UserInfo:
        async with self.db.read() as conn:
            return await self._get(conn, username)

    async def get_by_id(self, user_id: int) -> UserInfo:
        async with self.db.read() as conn:
            row = (await conn.execute(select(*_COLUMNS).where(User.id == user_id))).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return _info(row)

    async def search(
        self, query: str | None, *, offset: int, limit: int
    ) -> tuple[list[UserInfo], int]:
        """Users whose name or email contains ``query``, by name; and how many match."""
        condition = (
            or_(
                User.username.contains(query, autoescape=True),
                User.email.contains(query, autoescape=True),
            )
            if query
            else None
        )
        listing = select(*_COLUMNS).order_by(User.username).offset(offset).limit(limit)
        counting = select(func.count()).select_from(User)
        if condition is not None:
            listing, counting = listing.where(condition), counting.where(condition)
        async with self.db.read() as conn:
            rows = (await conn.execute(listing)).all()
            total = await conn.scalar(counting)
        return [_info(row) for row in rows], int(total or 0)

    async def set_password(self, username: str, password: str, actor: Actor = SYSTEM) -> None:
        check_password(password)
        password_hash = await hash_secret(password)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(User)
                .where(User.username == username, User.source == "db")
                .values(password_hash=password_hash)
            )
            if result.rowcount:
                await record(
                    conn, actor, "update", "user", username, detail={"password": "changed"}
                )
        if result.rowcount == 0:
            await self.get(username)  # NotFound for an unknown user
            raise Conflict(f"{username!r} logs in through an external directory")

    async def update(
        self,
        username: str,
        *,
        email: str | None = None,
        realname: str | None = None,
        comment: str | None = None,
        admin: bool | None = None,
        actor: Actor = SYSTEM,
    ) -> UserInfo:
        values = {
            key: value
            for key, value in {
                "email": email,
                "realname": realname,
                "comment": comment,
                "admin": admin,
            }.items()
            if value is not None
        }
        if admin is False and username == ADMIN:
            raise Conflict("the admin account stays a system admin")
        async with self.db.write() as conn:
            if values:
                await conn.execute(update(User).where(User.username == username).values(values))
                await record(conn, actor, "update", "user", username, detail=values)
            return await self._get(conn, username)

    async def delete(self, username: str, actor: Actor = SYSTEM) -> None:
        if username == ADMIN:
            raise Conflict("the admin account cannot be deleted")
        async with self.db.write() as conn:
            user_id = await self._id_of(conn, username)
            if user_id is None:
                raise NotFound(f"no user {username!r}")
            await conn.execute(
                delete(ProjectMember).where(
                    ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id
                )
            )
            await conn.execute(delete(User).where(User.id == user_id))
            await record(conn, actor, "delete", "user", username)

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """A local user whose password matches, or None."""
        async with self.db.read() as conn:
            row = (await conn.execute(_LOCAL_LOGIN, {"username": username})).first()
            if row is None or not await self.checker.matches(row.password_hash, password):
                return None
            return await self._principal(conn, row.id, username, row.admin)

    async def authenticate_cli_secret(self, username: str, secret: str) -> Principal | None:
        """An OIDC user whose CLI secret matches, or None."""
        async with self.db.read() as conn:
            row = (await conn.execute(_CLI_LOGIN, {"username": username})).first()
            if row is None or not await self.checker.matches(row.cli_secret_hash, secret):
                return None
            return await self._principal(conn, row.id, username, row.admin)

    async def new_cli_secret(self, username: str) -> str:
        """A fresh CLI secret for an OIDC user, shown once; the old one stops working."""
        secret = new_secret()
        secret_hash = await hash_secret(secret)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(User)
                .where(User.username == username, User.source == "oidc")
                .values(cli_secret_hash=secret_hash)
            )
        if result.rowcount == 0:
            await self.get(username)
            raise Conflict("only users who log in with OIDC have a CLI secret")
        return secret

    async def onboard(self, identity: ExternalIdentity, source: str) -> Principal:
        """The local user of an external identity, created on first login; its groups
        are replaced by those the directory names now."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(User.id, User.username, User.admin).where(
                        User.external_id == identity.subject
                    )
                )
            ).first()
            if row is None:
                if await self._id_of(conn, identity.username) is not None:
                    raise Conflict(f"a user named {identity.username!r} exists already in dockyard")
                await conn.execute(
                    insert(User),
                    {
                        "username": identity.username,
                        "email": identity.email,
                        "realname": identity.realname,
                        "comment": f"onboarded from {source}",
                        "source": source,
                        "external_id": identity.subject,
                        "admin": identity.admin,
                    },
                )
                user_id = await self._id_of(conn, identity.username)
                assert user_id is not None  # inserted above
                username, admin = identity.username, identity.admin
            else:
                user_id, username = row.id, row.username
                admin = row.admin or identity.admin
                await conn.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(email=identity.email, realname=identity.realname, admin=admin)
                )
            await conn.execute(delete(GroupMembership).where(GroupMembership.user_id == user_id))
            for group in identity.groups:
                await conn.execute(
                    insert_ignore(conn, UserGroup, ["kind", "external_id"]),
                    {"kind": source, "external_id": group.external_id, "name": group.name},
                )
                group_id = await conn.scalar(
                    select(UserGroup.id).where(
                        UserGroup.kind == source, UserGroup.external_id == group.external_id
                    )
                )
                await conn.execute(
                    insert(GroupMembership), {"user_id": user_id, "group_id": group_id}
                )
            return await self._principal(conn, user_id, username, admin)

    async def ensure_group(self, kind: str, external_id: str, name: str) -> int:
        """The id of a directory's group, recorded on first use (to make it a member)."""
        query = select(UserGroup.id).where(
            UserGroup.kind == kind, UserGroup.external_id == external_id
        )
        async with self.db.write() as conn:
            await conn.execute(
                insert_ignore(conn, UserGroup, ["kind", "external_id"]),
                {"kind": kind, "external_id": external_id, "name": name},
            )
            group_id: int = await conn.scalar(query)
            return group_id

    async def require_external(self, subject: str) -> None:
        """Denied unless a user of this external identity exists (no onboarding)."""
        async with self.db.read() as conn:
            found = await conn.scalar(select(User.id).where(User.external_id == subject))
        if found is None:
            raise Denied("this account is not known here; an administrator adds it first")

    async def group_name(self, group_id: int) -> str:
        async with self.db.read() as conn:
            name: str | None = await conn.scalar(
                select(UserGroup.name).where(UserGroup.id == group_id)
            )
        if name is None:
            raise NotFound(f"no group with id {group_id}")
        return name

    @staticmethod
    async def _principal(conn: Conn, user_id: int, username: str, admin: bool) -> Principal:
        groups = await conn.scalars(_GROUPS_OF, {"user_id": user_id})
        return Principal("user", username, user_id, admin, tuple(groups))

    async def principal(self, username: str) -> Principal | None:
        """The principal of an existing user, without a password (a console session)."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(User.id, User.admin).where(User.username == username))
            ).first()
            if row is None:
                return None
            return await self._principal(conn, row.id, username, row.admin)

    @staticmethod
    async def _id_of(conn: Conn, username: str) -> int | None:
        user_id: int | None = await conn.scalar(select(User.id).where(User.username == username))
        return user_id

    @staticmethod
    async def _get(conn: Conn, username: str) -> UserInfo:
        row = (await conn.execute(select(*_COLUMNS).where(User.username == username))).first()
        if row is None:
            raise NotFound(f"no user {username!r}")
        return _info(row)
