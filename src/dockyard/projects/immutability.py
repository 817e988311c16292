"""Immutable tag rules, as on Harbor: per project, a repository pattern and a tag
pattern (doublestar globs, ``**``, ``*``, ``?``, ``[...]`` and ``{a,b}``), each
matching or excluding.

A tag that an enabled rule covers cannot be moved to another manifest, deleted, or
deleted with its artifact or repository, by anyone, system admins included: the
data plane and the API answer 403 DENIED and name the rule. Pushing it the first
time, and pushing the same manifest again, are allowed. Rules match the repository's
name inside the project (``app``, ``team/app``), as Harbor's do.

The checks run inside the transaction that makes the change, so a rule and a push
that race are ordered by the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, bindparam, delete, func, insert, select, update
from wcmatch import glob

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.errors import Denied, InvalidInput, NotFound
from dockyard.events.services import Actor, record
from dockyard.projects.models import ImmutableRule, Repository

PATTERN_MAX_LENGTH = 255
# Patterns hold no control characters (the API's schema says so too).
PATTERN_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
# Rules a project may hold (Harbor's console allows 15).
MAX_RULES = 15
_FLAGS = glob.GLOBSTAR | glob.BRACE

RepoDecoration = Literal["repoMatches", "repoExcludes"]
TagDecoration = Literal["matches", "excludes"]

_COLUMNS = (
    ImmutableRule.id,
    ImmutableRule.project_id,
    ImmutableRule.priority,
    ImmutableRule.disabled,
    ImmutableRule.repository_pattern,
    ImmutableRule.repository_decoration,
    ImmutableRule.tag_pattern,
    ImmutableRule.tag_decoration,
    ImmutableRule.created_at,
    ImmutableRule.updated_at,
)
_ENABLED = (
    select(*_COLUMNS)
    .where(
        ImmutableRule.project_id == bindparam("project_id"),
        ImmutableRule.disabled.is_(False),
    )
    .order_by(ImmutableRule.priority, ImmutableRule.id)
)


_RULES_OF_REPOSITORY = (
    select(*_COLUMNS, Repository.name.label("repository_name"))
    .join(Repository, Repository.project_id == ImmutableRule.project_id)
    .where(Repository.id == bindparam("repository_id"), ImmutableRule.disabled.is_(False))
    .order_by(ImmutableRule.priority, ImmutableRule.id)
)
_LOCK_REPOSITORY = (
    select(Repository.id).where(Repository.id == bindparam("repository_id")).with_for_update()
)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: int
    project_id: int
    priority: int
    disabled: bool
    repository_pattern: str
    repository_decoration: str
    tag_pattern: str
    tag_decoration: str
    created_at: datetime
    updated_at: datetime

    def covers(self, repository: str, tag: str) -> bool:
        """Whether the rule makes ``tag`` of ``repository`` (the name inside the
        project) immutable."""
        in_scope = _matches(repository, self.repository_pattern)
        if self.repository_decoration == "repoExcludes":
            in_scope = not in_scope
        if not in_scope:
            return False
        tagged = _matches(tag, self.tag_pattern)
        return tagged if self.tag_decoration == "matches" else not tagged


def _matches(name: str, pattern: str) -> bool:
    return bool(glob.globmatch(name, pattern, flags=_FLAGS))


def _info(row: Row[Any]) -> RuleInfo:
    return RuleInfo(
        id=row.id,
        project_id=row.project_id,
        priority=row.priority,
        disabled=row.disabled,
        repository_pattern=row.repository_pattern,
        repository_decoration=row.repository_decoration,
        tag_pattern=row.tag_pattern,
        tag_decoration=row.tag_decoration,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_pattern(pattern: str, what: str) -> str:
    if not 1 <= len(pattern) <= PATTERN_MAX_LENGTH or not re.fullmatch(PATTERN_CHARACTERS, pattern):
        raise InvalidInput(f"a {what} pattern has 1 to {PATTERN_MAX_LENGTH} printable characters")
    try:
        glob.translate(pattern, flags=_FLAGS)
    except Exception as exc:  # wcmatch's own (braces that expand past its limit) too
        raise InvalidInput(f"invalid {what} pattern {pattern!r}: {exc}") from None
    return pattern


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a rule says; the API and the CLI build one."""

    repository_pattern: str = "**"
    repository_decoration: RepoDecoration = "repoMatches"
    tag_pattern: str = "**"
    tag_decoration: TagDecoration = "matches"
    disabled: bool = False
    priority: int = 0

    def values(self) -> dict[str, Any]:
        return {
            "repository_pattern": _check_pattern(self.repository_pattern, "repository"),
            "repository_decoration": self.repository_decoration,
            "tag_pattern": _check_pattern(self.tag_pattern, "tag"),
            "tag_decoration": self.tag_decoration,
            "disabled": self.disabled,
            "priority": self.priority,
        }


class ImmutabilityService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rules(self, project_id: int) -> list[RuleInfo]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(*_COLUMNS)
                .where(ImmutableRule.project_id == project_id)
                .order_by(ImmutableRule.priority, ImmutableRule.id)
            )
            return [_info(row) for row in rows]

    async def create(
        self, project_id: int, project: str, spec: RuleSpec, *, actor: Actor
    ) -> RuleInfo:
        values = spec.values()
        now = utcnow()
        async with self.db.write() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(ImmutableRule)
                .where(ImmutableRule.project_id == project_id)
            )
            if int(count or 0) >= MAX_RULES:
                raise InvalidInput(f"a project has at most {MAX_RULES} immutable tag rules")
            rule_id = await conn.scalar(
                insert(ImmutableRule).returning(ImmutableRule.id),
                {**values, "project_id": project_id, "created_at": now, "updated_at": now},
            )
            await _audit(conn, actor, "create", project, project_id, {"id": rule_id, **values})
            return await self._get(conn, project_id, int(rule_id))

    async def update(
        self, project_id: int, project: str, rule_id: int, spec: RuleSpec, *, actor: Actor
    ) -> RuleInfo:
        values = spec.values()
        async with self.db.write() as conn:
            await self._get(conn, project_id, rule_id)
            await conn.execute(
                update(ImmutableRule)
                .where(ImmutableRule.id == rule_id)
                .values(**values, updated_at=utcnow())
            )
            await _audit(conn, actor, "update", project, project_id, {"id": rule_id, **values})
            return await self._get(conn, project_id, rule_id)

    async def delete(self, project_id: int, project: str, rule_id: int, *, actor: Actor) -> None:
        async with self.db.write() as conn:
            await self._get(conn, project_id, rule_id)
            await conn.execute(delete(ImmutableRule).where(ImmutableRule.id == rule_id))
            await _audit(conn, actor, "delete", project, project_id, {"id": rule_id})

    @staticmethod
    async def _get(conn: Conn, project_id: int, rule_id: int) -> RuleInfo:
        row = (
            await conn.execute(
                select(*_COLUMNS).where(
                    ImmutableRule.id == rule_id, ImmutableRule.project_id == project_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"no immutable tag rule {rule_id} in this project")
        return _info(row)


async def _audit(
    conn: Conn, actor: Actor, operation: str, project: str, project_id: int, detail: dict[str, Any]
) -> None:
    await record(
        conn, actor, operation, "immutable_rule", project, project_id=project_id, detail=detail
    )


async def enabled_rules(conn: Conn, project_id: int) -> list[RuleInfo]:
    return [_info(row) for row in await conn.execute(_ENABLED, {"project_id": project_id})]


async def check_tag_move(
    conn: Conn, repository_id: int, tag: str, manifest_id: int, current: Select[Any]
) -> None:
    """Before ``tag`` of a repository points at ``manifest_id``: Denied when a rule covers
    the tag and it points elsewhere already. ``current`` selects the tag's manifest.

    A covered tag is checked with the repository's row locked (on PostgreSQL; SQLite's
    writers take turns anyway), so that of two pushes racing to create it the second
    sees the first's tag and is refused, rather than move it. Without rules (the common
    case) this is one query.
    """
    rows = (await conn.execute(_RULES_OF_REPOSITORY, {"repository_id": repository_id})).all()
    if not rows:
        return
    name = rows[0].repository_name
    rules = [_info(row) for row in rows]
    if not immutable_tags(rules, name.split("/", 1)[1], [tag]):
        return
    await conn.execute(_LOCK_REPOSITORY, {"repository_id": repository_id})
    pointed = await conn.scalar(current, {"repository_id": repository_id, "tag": tag})
    if pointed is not None and pointed != manifest_id:
        await check_mutable(conn, rows[0].project_id, name, [tag], "move")


def immutable_tags(
    rules: list[RuleInfo], repository: str, tags: Iterable[str]
) -> dict[str, RuleInfo]:
    """The tags of ``repository`` (its name inside the project) that a rule covers, with
    the first rule that does."""
    covered: dict[str, RuleInfo] = {}
    for tag in tags:
        for rule in rules:
            if rule.covers(repository, tag):
                covered[tag] = rule
                break
    return covered


async def check_mutable(
    conn: Conn, project_id: int, full_name: str, tags: Iterable[str], change: str
) -> None:
    """Refuse ``change`` (a verb phrase: "delete", "move") with 403 DENIED when a rule
    of the project covers one of ``tags`` of repository ``full_name``."""
    tags = list(tags)
    if not tags:
        return
    rules = await enabled_rules(conn, project_id)
    if not rules:
        return
    repository = full_name.split("/", 1)[1]
    covered = immutable_tags(rules, repository, tags)
    if covered:
        tag, rule = next(iter(covered.items()))
        raise Denied(
            f"cannot {change} tag {full_name}:{tag}: it is immutable (rule {rule.id} of the "
            f"project: repositories {rule.repository_decoration} {rule.repository_pattern!r}, "
            f"tags {rule.tag_decoration} {rule.tag_pattern!r})"
        )
