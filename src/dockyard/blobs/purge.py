"""The ``uploads.purge`` job: remove upload sessions that nobody has touched for a while.

A client that starts a chunked upload and goes away leaves a session row and its
bytes in the blob store behind; nothing else would ever remove them. A session
is abandoned when its last chunk (``updated_at``) is older than the limit and no
request holds its write lease (blobs/uploads.py), so neither a slow upload that
still makes progress nor one long chunk streaming in right now is taken.

The row goes first, in a DELETE that re-checks the age, then the bytes: a chunk
arriving meanwhile either refreshed the session (and it stays) or finds no
session. A crash between the two leaves bytes without a row, never a row without
bytes. Safe to run twice, and on any number of replicas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select

from dockyard.blobs.models import UploadSession
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.jobs.handlers import JobContext
from dockyard.jobs.schedules import ScheduleSpec
from dockyard.storage import BlobStore

UPLOADS_PURGE = "uploads.purge"
# Daily at 03:00 UTC, in Harbor's six fields; created on first start, an admin may change it.
DAILY_UPLOADS_PURGE = ScheduleSpec("uploads-purge", UPLOADS_PURGE, "0 0 3 * * *")
_BATCH = 500

_ABANDONED = and_(
    UploadSession.updated_at < bindparam("cutoff"),
    or_(UploadSession.writer.is_(None), UploadSession.lease_until < bindparam("now")),
)
_COUNT = select(func.count()).select_from(UploadSession).where(_ABANDONED)
_BATCH_IDS = (
    select(UploadSession.id).where(_ABANDONED).order_by(UploadSession.updated_at).limit(_BATCH)
)
_DROP = (
    delete(UploadSession)
    .where(UploadSession.id.in_(bindparam("ids", expanding=True)), _ABANDONED)
    .returning(UploadSession.id)
)


Report = Callable[[int, int | None, str], Awaitable[None]]


class UploadPurge:
    """The handler: ``{"max_idle_hours": h}`` in the payload overrides the setting.
    Garbage collection runs :meth:`purge` too."""

    def __init__(self, db: Database, store: BlobStore, *, max_idle_hours: float) -> None:
        self.db = db
        self.store = store
        self.max_idle_hours = max_idle_hours

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        hours = job.positive("max_idle_hours", self.max_idle_hours, "hours")
        purged = await self.purge(hours, job.progress)
        return {"purged": purged, "max_idle_hours": hours}

    async def abandoned(self, hours: float) -> int:
        """How many upload sessions nobody has touched for ``hours``."""
        now = utcnow()
        async with self.db.read() as conn:
            cutoff = now - timedelta(hours=hours)
            return int(await conn.scalar(_COUNT, {"cutoff": cutoff, "now": now}) or 0)

    async def purge(self, hours: float, report: Report) -> int:
        """Remove the sessions nobody has touched for ``hours`` and their data; how many."""
        now = utcnow()
        cutoff = now - timedelta(hours=hours)
        total = await self.abandoned(hours)
        purged = 0
        await report(0, total, f"{total} upload sessions idle for over {hours} hours")
        while True:
            async with self.db.read() as conn:
                ids = list((await conn.scalars(_BATCH_IDS, {"cutoff": cutoff, "now": now})).all())
            if not ids:
                break
            async with self.db.write() as conn:
                dropped = (
                    await conn.scalars(_DROP, {"ids": ids, "cutoff": cutoff, "now": utcnow()})
                ).all()
            for upload_id in dropped:
                await self.store.delete_upload(upload_id)
            purged += len(dropped)
            await report(purged, max(total, purged), f"removed {purged} upload sessions")
            if len(ids) < _BATCH:
                break
        return purged
