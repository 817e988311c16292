"""Schedules: cron expressions in the database that enqueue jobs; created, changed, listed here,
fired by the scheduler (jobs/scheduler.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.statements import insert_ignore
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.jobs.cron import check_cron, next_run
from dockyard.jobs.handlers import Handlers
from dockyard.jobs.models import Schedule
from dockyard.jobs.queue import check_kind, decode_json, encode_json

_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NAME_MAX_LENGTH = 128

_COLUMNS = (
    Schedule.id,
    Schedule.name,
    Schedule.kind,
    Schedule.payload,
    Schedule.cron,
    Schedule.enabled,
    Schedule.next_run_at,
    Schedule.last_run_at,
    Schedule.created_at,
    Schedule.updated_at,
)
_GET = select(*_COLUMNS).where(Schedule.id == bindparam("schedule_id"))


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A schedule the registry creates on start when none of its name exists (a built-in)."""

    name: str
    kind: str
    cron: str
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    id: int
    name: str
    kind: str
    payload: dict[str, Any]
    cron: str
    enabled: bool
    # None while disabled, or when no date matches the expression.
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _info(row: Row[Any]) -> ScheduleInfo:
    return ScheduleInfo(
        id=row.id,
        name=row.name,
        kind=row.kind,
        payload=decode_json(row.payload),
        cron=row.cron,
        enabled=row.enabled,
        next_run_at=row.next_run_at,
        last_run_at=row.last_run_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_schedule_name(name: str) -> str:
    if not 1 <= len(name) <= NAME_MAX_LENGTH or not _NAME.match(name):
        raise InvalidInput(
            f"invalid schedule name {name!r}: lowercase letters and digits, separated by "
            f". _ or -, at most {NAME_MAX_LENGTH} characters"
        )
    return name


class ScheduleService:
    def __init__(self, db: Database, handlers: Handlers) -> None:
        self.db = db
        # A schedule must name a kind that this registry's workers can run.
        self.handlers = handlers

    def _check_kind(self, kind: str) -> str:
        check_kind(kind)
        if kind not in self.handlers:
            known = ", ".join(self.handlers.kinds()) or "none"
            raise InvalidInput(f"unknown job kind {kind!r}; known kinds: {known}")
        return kind

    async def create(
        self,
        name: str,
        kind: str,
        cron: str,
        payload: dict[str, Any] | None = None,
        *,
        enabled: bool = True,
    ) -> ScheduleInfo:
        values = self._values(name, kind, cron, payload, enabled)
        try:
            async with self.db.write() as conn:
                schedule_id = await conn.scalar(
                    insert(Schedule).values(**values).returning(Schedule.id)
                )
        except IntegrityError:
            raise Conflict(f"a schedule named {name!r} exists already") from None
        return await self.get(schedule_id)

    async def ensure(self, specs: Iterable[ScheduleSpec]) -> None:
        """Create the built-in schedules that do not exist by name; never change one that
        does (an operator may have changed or disabled it). Safe on every replica at once."""
        rows = [self._values(s.name, s.kind, s.cron, s.payload, True) for s in specs]
        if not rows:
            return
        async with self.db.write() as conn:
            await conn.execute(insert_ignore(conn, Schedule, ["name"]), rows)

    def _values(
        self, name: str, kind: str, cron: str, payload: dict[str, Any] | None, enabled: bool
    ) -> dict[str, Any]:
        cron = check_cron(cron)
        now = utcnow()
        return {
            "name": check_schedule_name(name),
            "kind": self._check_kind(kind),
            "payload": encode_json(payload or {}, "schedule payload"),
            "cron": cron,
            "enabled": enabled,
            "next_run_at": next_run(cron, now) if enabled else None,
            "last_run_at": None,
            "created_at": now,
            "updated_at": now,
        }

    async def update(
        self,
        schedule_id: int,
        *,
        cron: str | None = None,
        payload: dict[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> ScheduleInfo:
        """Change a schedule; the next run is computed anew from now when the expression
        changes or the schedule is enabled again."""
        now = utcnow()
        changes: dict[str, Any] = {"updated_at": now}
        if cron is not None:
            changes["cron"] = check_cron(cron)
        if payload is not None:
            changes["payload"] = encode_json(payload, "schedule payload")
        async with self.db.write() as conn:
            row = (await conn.execute(_GET, {"schedule_id": schedule_id})).first()
            if row is None:
                raise NotFound(f"schedule {schedule_id} not found")
            now_enabled = row.enabled if enabled is None else enabled
            changes["enabled"] = now_enabled
            if not now_enabled:
                changes["next_run_at"] = None
            elif cron is not None or not row.enabled:
                changes["next_run_at"] = next_run(changes.get("cron", row.cron), now)
            await conn.execute(update(Schedule).where(Schedule.id == schedule_id).values(**changes))
        return await self.get(schedule_id)

    async def delete(self, schedule_id: int) -> None:
        """Remove a schedule; the jobs it enqueued stay, as history."""
        async with self.db.write() as conn:
            deleted = await conn.execute(delete(Schedule).where(Schedule.id == schedule_id))
        if deleted.rowcount == 0:
            raise NotFound(f"schedule {schedule_id} not found")

    async def get(self, schedule_id: int) -> ScheduleInfo:
        async with self.db.read() as conn:
            row = (await conn.execute(_GET, {"schedule_id": schedule_id})).first()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return _info(row)

    async def get_by_name(self, name: str) -> ScheduleInfo:
        async with self.db.read() as conn:
            row = (await conn.execute(select(*_COLUMNS).where(Schedule.name == name))).first()
        if row is None:
            raise NotFound(f"schedule {name!r} not found")
        return _info(row)

    async def search(self, *, offset: int = 0, limit: int = 100) -> tuple[list[ScheduleInfo], int]:
        """Schedules by name; and how many there are."""
        async with self.db.read() as conn:
            query = select(*_COLUMNS).order_by(Schedule.name).offset(offset).limit(limit)
            rows = (await conn.execute(query)).all()
            total = await conn.scalar(select(func.count()).select_from(Schedule))
        return [_info(row) for row in rows], int(total or 0)
