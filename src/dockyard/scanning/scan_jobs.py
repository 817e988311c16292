"""The ``scan.artifact`` job: one image through its project's scanner adapter.

It gives the adapter a pull-only token for the repository, submits the scan, polls for
the report as long as the adapter says (``Refresh-After``) within the scan timeout,
and stores the vulnerability report, and the SBOM when one was asked for, which is
also pushed next to the image as an OCI referrer (scanning/sboms.py). Each outcome
is recorded as an event: scan_completed, scan_failed or scan_stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, update

from dockyard.access.tokens import TokenService
from dockyard.artifacts.models import Manifest
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, NotFound
from dockyard.events.services import Actor, record
from dockyard.jobs.handlers import JobCancelled, JobContext
from dockyard.projects.models import Repository
from dockyard.scanning.client import AdapterError, Pending
from dockyard.scanning.models import ScanReport
from dockyard.scanning.reports import (
    CYCLONEDX,
    SBOM_REPORT,
    VULNERABILITY_MIME_TYPES,
    VULNERABILITY_REPORT,
    summarize,
)
from dockyard.scanning.sboms import SbomAttacher
from dockyard.scanning.scanners import ScannerService
from dockyard.scanning.scans import finish

SCANNER_ACTOR = Actor("scanner")


@dataclass(frozen=True, slots=True)
class ScanSettings:
    # Where outside adapters pull images from (the registry's URL as they reach it).
    registry_url: str
    # A scan that has no report after this long fails.
    timeout_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class _Target:
    manifest_id: int
    digest: str
    media_type: str
    repository: str
    project_id: int


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
                await finish(conn, job.job.id, "Stopped", "stopped while it ran")
                await _event(conn, "scan_stopped", target, {})
            raise
        except (AdapterError, NotFound, Conflict, TimeoutError) as exc:
            message = str(exc) or "the scan timed out"
            async with self.db.write() as conn:
                await finish(conn, job.job.id, "Error", message)
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
            elif want_sbom:
                await finish(
                    conn, job.job.id, "Error", f"{metadata.name} makes no SBOM dockyard reads"
                )
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
