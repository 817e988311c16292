"""Scanning artifacts: asking for scans, running them through an adapter, and keeping
what they found.

A scan of an image is a ``scan.artifact`` job: it gives the project's scanner
adapter a pull-only token for the repository, submits the scan, polls for the report
as long as the adapter says (``Refresh-After``) within the scan timeout, and stores
the vulnerability report, and the SBOM when one was asked for, which is also pushed
next to the image as an OCI referrer (artifactType ``application/vnd.cyclonedx+json``)
so that any OCI client can fetch it. An index is scanned per child image. Each
outcome is recorded as an event: scan_completed, scan_failed or scan_stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select, update

from dockyard.access.tokens import TokenService
from dockyard.artifacts.lookup import find_artifact
from dockyard.artifacts.models import Manifest, ManifestReference
from dockyard.artifacts.services import TaggedPush
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.db.statements import upsert
from dockyard.errors import Conflict, NotFound, Unsupported
from dockyard.events.services import Actor, record
from dockyard.jobs.handlers import JobCancelled, JobContext
from dockyard.jobs.models import Job
from dockyard.jobs.queue import JobQueue
from dockyard.projects.models import Project, Repository
from dockyard.scanning.client import AdapterError, Pending
from dockyard.scanning.models import ScanReport
from dockyard.scanning.reports import (
    CYCLONEDX,
    SBOM_REPORT,
    VULNERABILITY_MIME_TYPES,
    VULNERABILITY_REPORT,
    summarize,
    worst,
)
from dockyard.scanning.sboms import SbomAttacher
from dockyard.scanning.scanners import ScannerInfo, ScannerService, scanner_for

SCAN_ARTIFACT = "scan.artifact"
SCANNER_ACTOR = Actor("scanner")
# What an artifact's kind must be for a scanner to take it, and for an index to be
# scanned through its children.
SCANNABLE_KINDS = ("image",)


@dataclass(frozen=True, slots=True)
class ScanSettings:
    # Where outside adapters pull images from (the registry's URL as they reach it).
    registry_url: str
    # A scan that has no report after this long fails.
    timeout_seconds: float = 600.0


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


@dataclass(frozen=True, slots=True)
class _Target:
    manifest_id: int
    digest: str
    media_type: str
    repository: str
    project_id: int


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
        """Scan an artifact (each child image of an index); the job ids. Unsupported for
        an artifact no scanner takes, Conflict when no scanner is enabled."""
        async with self.db.read() as conn:
            key = await find_artifact(conn, repository, reference)
            kind = await conn.scalar(select(Manifest.kind).where(Manifest.id == key.id))
            targets = [key.id] if kind in SCANNABLE_KINDS else await _children(conn, key.id)
        if not targets:
            raise Unsupported(
                f"{repository}@{key.digest} is a {kind} artifact: it cannot be scanned"
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
        if pushed.kind not in ("image", "index"):
            return
        metadata = await project_metadata(conn, pushed.project_id)
        if metadata.get("auto_scan") != "true":
            return
        targets = (
            [pushed.manifest_id]
            if pushed.kind == "image"
            else await _children(conn, pushed.manifest_id)
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
            ids = [key.id, *await _children(conn, key.id)]
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
                    await _finish(conn, job_id, "Stopped", "stopped before it started")
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
            ids = [key.id, *await _children(conn, key.id)]
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


class ScanArtifact:
    """The ``scan.artifact`` job: one image through one adapter."""

    def __init__(
        self,
        db: Database,
        scanners: ScannerService,
        tokens: TokenService,
        sboms: SbomAttacher,
        settings: ScanSettings,
    ) -> None:
        self.db = db
        self.scanners = scanners
        self.tokens = tokens
        self.sboms = sboms
        self.settings = settings

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        manifest_id = int(job.payload["manifest_id"])
        want_sbom = job.flag("sbom", False)
        target = await self._target(manifest_id)
        if target is None:
            return {"skipped": "the artifact was deleted"}
        try:
            return await self._scan(job, target, want_sbom)
        except JobCancelled:
            async with self.db.write() as conn:
                await _finish(conn, job.job.id, "Stopped", "stopped while it ran")
                await _event(conn, "scan_stopped", target, {})
            raise
        except (AdapterError, NotFound, Conflict, TimeoutError) as exc:
            message = str(exc) or "the scan timed out"
            async with self.db.write() as conn:
                await _finish(conn, job.job.id, "Error", message)
                await _event(conn, "scan_failed", target, {"error": message})
            return {"error": message}

    async def _scan(self, job: JobContext, target: _Target, want_sbom: bool) -> dict[str, Any]:
        scanner = await self.scanners.get_by_id(int(job.payload["scanner_id"]))
        async with self.db.write() as conn:
            await conn.execute(
                update(ScanReport)
                .where(ScanReport.job_id == job.job.id)
                .values(status="Running", started_at=utcnow())
            )
        started = time.monotonic()
        deadline = started + self.settings.timeout_seconds
        async with await self.scanners.connect(scanner.uuid) as client:
            metadata = await client.metadata()
            vulnerability = next(
                (m for m in VULNERABILITY_MIME_TYPES if m in metadata.produces("vulnerability")),
                None,
            )
            if vulnerability is None:
                raise AdapterError("the scanner produces no vulnerability report dockyard reads")
            sbom = want_sbom and SBOM_REPORT in metadata.produces("sbom")
            capabilities: list[dict[str, Any]] = [
                {"type": "vulnerability", "produces_mime_types": [vulnerability]}
            ]
            if sbom:
                capabilities.append(
                    {
                        "type": "sbom",
                        "produces_mime_types": [SBOM_REPORT],
                        "parameters": {"sbom_media_types": [CYCLONEDX]},
                    }
                )
            token = await self.tokens.issue_for_scanner(
                target.repository, int(self.settings.timeout_seconds) + 60
            )
            scan_id = await client.scan(
                {
                    "registry": {
                        "url": "http://dockyard.internal"
                        if scanner.builtin
                        else self.settings.registry_url,
                        "authorization": f"Bearer {token}",
                    },
                    "artifact": {
                        "repository": target.repository,
                        "digest": target.digest,
                        "mime_type": target.media_type,
                    },
                    "enabled_capabilities": capabilities,
                }
            )
            found = await _poll(job, deadline, lambda: client.report(scan_id, vulnerability))
            sbom_report = None
            if sbom:
                sbom_report = await _poll(
                    job,
                    deadline,
                    lambda: client.report(scan_id, SBOM_REPORT, sbom_media_type=CYCLONEDX),
                )
        summary = summarize(found)
        scanned_by = {
            "name": metadata.name,
            "vendor": metadata.vendor,
            "version": metadata.version,
        }
        sbom_digest = ""
        sbom_note = ""
        if sbom_report is not None:
            sbom_digest, sbom_note = await self.sboms.attach(
                target.repository, target.digest, sbom_report
            )
        async with self.db.write() as conn:
            await _store(conn, job.job.id, VULNERABILITY_REPORT, found, summary, scanned_by)
            if sbom_report is not None:
                await _store_sbom(conn, job.job.id, sbom_report, scanned_by, sbom_digest, sbom_note)
            await _event(
                conn,
                "scan_completed",
                target,
                {
                    "scanner": metadata.name,
                    "severity": summary.severity,
                    "total": summary.total,
                    "fixable": summary.fixable,
                    "duration_seconds": round(time.monotonic() - started, 3),
                },
            )
        return {"severity": summary.severity, "total": summary.total, "sbom": sbom_digest}

    async def _target(self, manifest_id: int) -> _Target | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        Manifest.id,
                        Manifest.digest,
                        Manifest.media_type,
                        Repository.name,
                        Repository.project_id,
                    )
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(Manifest.id == manifest_id)
                )
            ).one_or_none()
        return None if row is None else _Target(*row)


async def _poll(job: JobContext, deadline: float, ask: Any) -> dict[str, Any]:
    """Ask for a report until it is there, waiting as long as the adapter says."""
    while True:
        answer = await ask()
        if not isinstance(answer, Pending):
            return dict(answer)
        await job.progress(0, None, "waiting for the scanner's report")
        if time.monotonic() + answer.refresh_after > deadline:
            raise TimeoutError("the scanner had no report before the scan timeout")
        await asyncio.sleep(answer.refresh_after)


async def _store(
    conn: Conn,
    job_id: int,
    mime_type: str,
    report: dict[str, Any],
    summary: Any,
    scanner: dict[str, Any],
) -> None:
    await conn.execute(
        update(ScanReport)
        .where(ScanReport.job_id == job_id, ScanReport.mime_type == mime_type)
        .values(
            status="Success",
            ended_at=utcnow(),
            severity=summary.severity,
            summary=orjson.dumps(summary.as_json()).decode(),
            report=orjson.dumps(report).decode(),
            scanner=orjson.dumps(scanner).decode(),
            log=f"{summary.total} vulnerabilities found ({summary.fixable} fixable)",
        )
    )


async def _store_sbom(
    conn: Conn,
    job_id: int,
    report: dict[str, Any],
    scanner: dict[str, Any],
    digest: str,
    note: str,
) -> None:
    await conn.execute(
        update(ScanReport)
        .where(ScanReport.job_id == job_id, ScanReport.mime_type == SBOM_REPORT)
        .values(
            status="Success",
            ended_at=utcnow(),
            severity="None",
            report=orjson.dumps(report).decode(),
            scanner=orjson.dumps(scanner).decode(),
            sbom_digest=digest,
            log=note,
        )
    )


async def _finish(conn: Conn, job_id: int, status: str, message: str) -> None:
    await conn.execute(
        update(ScanReport)
        .where(ScanReport.job_id == job_id, ScanReport.status.in_(("Pending", "Running")))
        .values(status=status, ended_at=utcnow(), log=message)
    )


async def _event(conn: Conn, operation: str, target: _Target, detail: dict[str, Any]) -> None:
    await record(
        conn,
        SCANNER_ACTOR,
        operation,
        "artifact",
        f"{target.repository}@{target.digest}",
        project_id=target.project_id,
        detail={"digest": target.digest, **detail},
    )


async def _children(conn: Conn, manifest_id: int) -> list[int]:
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


async def project_metadata(conn: Conn, project_id: int) -> dict[str, str]:
    text = await conn.scalar(select(Project.metadata_json).where(Project.id == project_id))
    return dict(orjson.loads(text or "{}"))
