"""Pulls: when each artifact was last pulled, and a "pull" event per pull, written in batches.

A pull is a read. Writing a row inside each manifest GET would turn the data
plane's cheapest request into a write that queues behind pushes, so pulls are
gathered in memory and written once a second in one transaction: an UPDATE per
artifact pulled, and one event per artifact, caller and address, with the count
of pulls it stands for (a CI fleet pulling one image a thousand times a second
writes one row a second, not a thousand). A crash loses at most the last second
of pull records; never content, and nothing a push acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import DBAPIError

from dockyard.artifacts.models import Manifest
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.errors import Unavailable
from dockyard.events.models import Event
from dockyard.events.services import Actor

log = logging.getLogger(__name__)

_TOUCH = (
    update(Manifest)
    .where(Manifest.id == bindparam("manifest_id"))
    .values(pulled_at=bindparam("pulled_at"))
)


@dataclass(frozen=True, slots=True)
class Pull:
    manifest_id: int
    project_id: int | None
    # "library/app:v1" or "library/app@sha256:…", as the client asked for it.
    resource: str
    actor: Actor
    at: datetime


class PullRecorder:
    def __init__(self, db: Database, *, interval: float = 1.0, max_pending: int = 50_000) -> None:
        self.db = db
        self.interval = interval
        # A bound on memory if the database stays away: the oldest records go first.
        self.max_pending = max_pending
        self._pending: list[Pull] = []

    def record(self, manifest_id: int, project_id: int | None, resource: str, actor: Actor) -> None:
        self._pending.append(Pull(manifest_id, project_id, resource, actor, utcnow()))
        if len(self._pending) > self.max_pending:
            del self._pending[: len(self._pending) - self.max_pending]

    async def flush(self) -> None:
        """Write what was pulled since the last flush."""
        pulls, self._pending = self._pending, []
        if not pulls:
            return
        latest: dict[int, datetime] = {}
        # (resource, caller, address) -> (the first pull of the group, how many)
        groups: dict[tuple[str, str, str], tuple[Pull, int]] = {}
        for pull in pulls:
            latest[pull.manifest_id] = pull.at
            key = (pull.resource, pull.actor.name, pull.actor.client_ip)
            first, count = groups.get(key, (pull, 0))
            groups[key] = (first, count + 1)
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    _TOUCH, [{"manifest_id": m, "pulled_at": at} for m, at in latest.items()]
                )
                await conn.execute(
                    insert(Event),
                    [
                        {
                            "occurred_at": pull.at,
                            "operation": "pull",
                            "resource_type": "artifact",
                            "resource": pull.resource,
                            "project_id": pull.project_id,
                            "operator": pull.actor.name,
                            "client_ip": pull.actor.client_ip,
                            "detail": f'{{"pulls": {count}}}',
                        }
                        for pull, count in groups.values()
                    ],
                )
        except (DBAPIError, Unavailable) as exc:
            # Put them back for the next round (the bound above keeps this finite).
            self._pending[:0] = pulls
            log.warning("could not record %d pulls yet: %s", len(pulls), exc)

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            await self.flush()
