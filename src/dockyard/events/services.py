"""Recording events inside the transaction that caused them, and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, insert, select

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.events.models import Event


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it, and from where; services take one from each face."""

    name: str
    client_ip: str = ""


SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    operation: str
    resource_type: str
    resource: str
    project_id: int | None
    operator: str
    client_ip: str
    occurred_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


async def record(
    conn: Conn,
    actor: Actor,
    operation: str,
    resource_type: str,
    resource: str,
    *,
    project_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record an event in ``conn``'s transaction: it exists exactly when the change does."""
    await conn.execute(
        insert(Event),
        {
            "operation": operation,
            "resource_type": resource_type,
            "resource": resource,
            "project_id": project_id,
            "operator": actor.name,
            "client_ip": actor.client_ip,
            "detail": orjson.dumps(detail or {}).decode(),
        },
    )


class EventService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        actor: Actor,
        operation: str,
        resource_type: str,
        resource: str,
        *,
        project_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an event in a transaction of its own (for changes that are not rows)."""
        async with self.db.write() as conn:
            await record(
                conn,
                actor,
                operation,
                resource_type,
                resource,
                project_id=project_id,
                detail=detail,
            )

    async def search(
        self,
        *,
        project_id: int | None = None,
        operator: str | None = None,
        operation: str | None = None,
        resource_type: str | None = None,
        resource: str | None = None,
        offset: int,
        limit: int,
    ) -> tuple[list[AuditEntry], int]:
        """Events newest first, filtered; and how many match."""
        conditions: list[ColumnElement[bool]] = []
        if project_id is not None:
            conditions.append(Event.project_id == project_id)
        if operator:
            conditions.append(Event.operator == operator)
        if operation:
            conditions.append(Event.operation == operation)
        if resource_type:
            conditions.append(Event.resource_type == resource_type)
        if resource:
            conditions.append(Event.resource.contains(resource, autoescape=True))
        query = (
            select(
                Event.id,
                Event.operation,
                Event.resource_type,
                Event.resource,
                Event.project_id,
                Event.operator,
                Event.client_ip,
                Event.occurred_at,
                Event.detail,
            )
            .where(*conditions)
            .order_by(Event.id.desc())
            .offset(offset)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            total = await conn.scalar(select(func.count()).select_from(Event).where(*conditions))
        entries = [
            AuditEntry(
                id=row.id,
                operation=row.operation,
                resource_type=row.resource_type,
                resource=row.resource,
                project_id=row.project_id,
                operator=row.operator,
                client_ip=row.client_ip,
                occurred_at=row.occurred_at,
                detail=orjson.loads(row.detail),
            )
            for row in rows
        ]
        return entries, int(total or 0)
