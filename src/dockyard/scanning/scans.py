"""Scanning artifacts: asking for scans, stopping them, and reading what they found.

A scan of an image is a ``scan.artifact`` job (scanning/scan_jobs.py runs it), queued
with a Pending report per report type; an index is scanned per child image, and its
overview and report are its images', summed. A report keeps the last one an adapter
returned while a new scan runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select, update

from dockyard.artifacts.lookup import find_artifact
from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.artifacts.services import TaggedPush
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.db.statements import upsert
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.events.services import Actor
from dockyard.jobs.models import Job
from dockyard.jobs.queue import JobQueue
from dockyard.scanning.models import ScanReport
from dockyard.scanning.reports import (
    SBOM_REPORT,
    VULNERABILITY_REPORT,
    worst,
)
from dockyard.scanning.scanners import ScannerInfo, ScannerService, scanner_for

SCAN_ARTIFACT = "scan.artifact"
# What an artifact's kind must be for a scanner to take it, and for an index to be
# scanned through its children.
SCANNABLE_KINDS = ("image",)


@dataclass(frozen=True, slots=True)
class Overview:
    """Harbor's scan overview of one artifact and one report type."""

    report_id: str
    status: str
    severity: str
    summary: dict[str, Any]
    scanner: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None
    sbom_digest: str = ""

    @property
    def duration(self) -> int:
        if self.ended_at is None:
            return 0
        return max(0, int((self.ended_at - self.started_at).total_seconds()))


class ScanService:
    def __init__(
        self,
        db: Database,
        jobs: JobQueue,
        scanners: ScannerService,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.scanners = scanners

    async def request(
        self, repository: str, reference: str, actor: Actor, *, sbom: bool = False
    ) -> list[int]:
        """Scan an artifact (each child image of an index); the job ids. InvalidInput for
        an artifact no scanner takes, Conflict when no scanner is enabled."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, repository, reference)
            kind = await conn.scalar(select(Manifest.kind).where(Manifest.id == key.id))
            targets = [key.id] if kind in SCANNABLE_KINDS else await children(conn, key.id)
        if not targets:
            raise InvalidInput(
                f"{repository}@{key.digest} is a {kind} artifact: only images (and the "
                "images of an index) can be scanned"
            )
        scanner = await self.scanners.for_project(key.project_id)
        if scanner is None:
            raise Conflict("no scanner is enabled: register one or enable the default")
        async with self.db.write() as conn:
            job_ids = await self.enqueue(conn, targets, scanner, sbom=sbom)
        self.jobs.wake()
        return job_ids

    async def on_push(self, conn: Conn, pushed: TaggedPush) -> None:
        """Scan on push: queue a scan of an image (an index's images) pushed under a tag to
        a project with ``auto_scan`` on, in the push's own transaction."""
        # Cheap first: most pushes go to projects that do not scan on push.
        if pushed.kind not in ("image", "index") or '"auto_scan"' not in pushed.project_metadata:
            return
        metadata: dict[str, str] = orjson.loads(pushed.project_metadata)
        if metadata.get("auto_scan") != "true":
            return
        targets = (
            [pushed.manifest_id]
            if pushed.kind == "image"
            else await children(conn, pushed.manifest_id)
        )
        scanner = await scanner_for(conn, pushed.project_id)
        if targets and scanner is not None:
            await self.enqueue(
                conn, targets, scanner, sbom=metadata.get("auto_sbom_generation") == "true"
            )
            self.jobs.wake()

    async def enqueue(
        self, conn: Conn, manifest_ids: Sequence[int], scanner: ScannerInfo, *, sbom: bool
    ) -> list[int]:
        """Queue a scan of each image, in ``conn``'s transaction, with Pending reports."""
        job_ids = []
        kinds = [VULNERABILITY_REPORT, SBOM_REPORT] if sbom else [VULNERABILITY_REPORT]
        for manifest_id in manifest_ids:
            job_id = await self.jobs.add(
                conn,
                SCAN_ARTIFACT,
                {"manifest_id": manifest_id, "scanner_id": scanner.id, "sbom": sbom},
                max_attempts=1,
            )
            for mime_type in kinds:
                await conn.execute(
                    upsert(
                        conn,
                        ScanReport,
                        ["manifest_id", "mime_type"],
                        [
                            "uuid",
                            "scanner_id",
                            "status",
                            "job_id",
                            "started_at",
                            "ended_at",
                            "log",
                        ],
                    ),
                    {
                        "uuid": str(uuid.uuid4()),
                        "manifest_id": manifest_id,
                        "scanner_id": scanner.id,
                        "scanner": "{}",
                        "mime_type": mime_type,
                        "status": "Pending",
                        "job_id": job_id,
                        "started_at": utcnow(),
                        "ended_at": None,
                        "log": "",
                    },
                )
            job_ids.append(job_id)
        return job_ids

    async def stop(self, repository: str, reference: str) -> int:
        """Stop the scans of an artifact that have not finished; how many were stopped."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, repository, reference)
            ids = [key.id, *await children(conn, key.id)]
            job_ids = (
                await conn.scalars(
                    select(ScanReport.job_id).where(
                        ScanReport.manifest_id.in_(ids),
                        ScanReport.status.in_(("Pending", "Running")),
                    )
                )
            ).all()
        if not job_ids:
            raise Conflict(f"{repository}@{key.digest} has no scan in progress")
        for job_id in {job_id for job_id in job_ids if job_id is not None}:
            info = await self.jobs.cancel(job_id)
            if info.status == "cancelled":
                # It had not started: no handler will record the stop.
                async with self.db.write() as conn:
                    await finish(conn, job_id, "Stopped", "stopped before it started")
        return len(job_ids)

    async def overviews(self, manifest_ids: Sequence[int]) -> dict[int, dict[str, Overview]]:
        """The scan overview of each artifact by report type; an index's is the sum of its
        children's."""
        if not manifest_ids:
            return {}
        async with self.db.read() as conn:
            children = await _children_of(conn, manifest_ids)
            wanted = set(manifest_ids) | {c for cs in children.values() for c in cs}
            rows = await conn.execute(
                select(ScanReport, Job.status.label("job_status"))
                .outerjoin(Job, Job.id == ScanReport.job_id)
                .where(ScanReport.manifest_id.in_(sorted(wanted)))
            )
            held: dict[int, dict[str, Overview]] = {}
            for row in rows:
                held.setdefault(row.manifest_id, {})[row.mime_type] = _overview(row)
        result: dict[int, dict[str, Overview]] = {}
        for manifest_id in manifest_ids:
            if manifest_id in held:
                result[manifest_id] = held[manifest_id]
            elif children.get(manifest_id):
                combined = _combine([held.get(c, {}) for c in children[manifest_id]])
                if combined:
                    result[manifest_id] = combined
        return result

    async def report(self, repository: str, reference: str, mime_type: str) -> dict[str, Any]:
        """The stored report of one type about an artifact (an index: merged over its
        children); NotFound when there is none yet."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, repository, reference)
            ids = [key.id, *await children(conn, key.id)]
            rows = (
                await conn.execute(
                    select(ScanReport.report).where(
                        ScanReport.manifest_id.in_(ids),
                        ScanReport.mime_type == mime_type,
                        ScanReport.report != "",
                    )
                )
            ).all()
        reports = [orjson.loads(row.report) for row in rows if row.report]
        if not reports:
            raise NotFound(f"{repository}@{key.digest} has no {mime_type} report")
        if len(reports) == 1:
            return dict(reports[0])
        merged = dict(reports[0])
        merged["vulnerabilities"] = [v for r in reports for v in r.get("vulnerabilities") or ()]
        merged["severity"] = worst([str(r.get("severity", "None")) for r in reports])
        return merged

    async def log(self, report_uuid: str) -> str:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(ScanReport.log, Job.error)
                    .outerjoin(Job, Job.id == ScanReport.job_id)
                    .where(ScanReport.uuid == report_uuid)
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"scan report {report_uuid} not found")
        # A scan whose worker died has no log of its own; its job says what happened.
        return str(row.log or row.error or "")


async def finish(conn: Conn, job_id: int, status: str, message: str) -> None:
    await conn.execute(
        update(ScanReport)
        .where(ScanReport.job_id == job_id, ScanReport.status.in_(("Pending", "Running")))
        .values(status=status, ended_at=utcnow(), log=message)
    )


async def children(conn: Conn, manifest_id: int) -> list[int]:
    return (await _children_of(conn, [manifest_id])).get(manifest_id, [])


async def _children_of(conn: Conn, manifest_ids: Sequence[int]) -> dict[int, list[int]]:
    """The image manifests each index lists, in the same repository."""
    parent = Manifest.__table__.alias("parent")
    rows = await conn.execute(
        select(ManifestReference.manifest_id, Manifest.id)
        .join(parent, parent.c.id == ManifestReference.manifest_id)
        .join(
            Manifest,
            and_(
                Manifest.repository_id == parent.c.repository_id,
                Manifest.digest == ManifestReference.digest,
            ),
        )
        .where(
            ManifestReference.manifest_id.in_(list(manifest_ids)),
            ManifestReference.kind == "manifest",
            Manifest.kind.in_(SCANNABLE_KINDS),
        )
    )
    children: dict[int, list[int]] = {}
    for parent_id, child_id in rows:
        children.setdefault(parent_id, []).append(child_id)
    return children


# What a report still Pending or Running is, once its job has ended without saying
# (the worker died and the job ran out of attempts, or it was pruned long after).
_ENDED = {"failed": "Error", "cancelled": "Stopped", "succeeded": "Error", None: "Error"}


def _overview(row: Any) -> Overview:
    status = row.status
    if status in ("Pending", "Running") and row.job_status not in ("queued", "running"):
        status = _ENDED.get(row.job_status, "Error")
    return Overview(
        report_id=row.uuid,
        status=status,
        severity=row.severity,
        summary=orjson.loads(row.summary or "{}"),
        scanner=orjson.loads(row.scanner or "{}"),
        started_at=row.started_at,
        ended_at=row.ended_at,
        sbom_digest=row.sbom_digest,
    )


def _combine(children: list[dict[str, Overview]]) -> dict[str, Overview]:
    """An index's overview: the worst status and severity of its children, counts summed."""
    result: dict[str, Overview] = {}
    for mime_type in {m for child in children for m in child}:
        parts = [child[mime_type] for child in children if mime_type in child]
        counts: dict[str, int] = {}
        total = fixable = 0
        for part in parts:
            total += int(part.summary.get("total", 0))
            fixable += int(part.summary.get("fixable", 0))
            for severity, count in (part.summary.get("summary") or {}).items():
                counts[severity] = counts.get(severity, 0) + int(count)
        order = ("Error", "Running", "Pending", "Stopped", "Success")
        status = min((p.status for p in parts), key=lambda s: order.index(s) if s in order else 0)
        ends = [p.ended_at for p in parts]
        result[mime_type] = Overview(
            report_id=parts[0].report_id,
            status=status,
            severity=worst([p.severity for p in parts]),
            summary={"total": total, "fixable": fixable, "summary": counts} if total else {},
            scanner=parts[0].scanner,
            started_at=min(p.started_at for p in parts),
            ended_at=None if None in ends else max(e for e in ends if e is not None),
        )
    return result
