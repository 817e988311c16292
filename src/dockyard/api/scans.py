"""Scanning an artifact, its reports, and the CVE allowlists, in Harbor's shapes.

- ``POST .../artifacts/{reference}/scan`` (body ``{"scan_type": "vulnerability"|"sbom"}``)
  and ``.../scan/stop``; ``GET .../scan/{report_id}/log``;
- ``GET .../artifacts/{reference}/additions/vulnerabilities``: the report by MIME type,
  or the findings as CSV (``?format=csv``) or a flat JSON list (``?format=json``);
- ``GET/PUT /system/CVEAllowlist`` and ``GET/PUT /projects/{project}/cve_allowlist``;
- scan all: ``/system/scanAll/schedule`` (type Manual runs now), ``/system/scanAll/stop``,
  ``/scans/all/metrics`` and ``/scans/schedule/metrics``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from dockyard.access.rbac import Action
from dockyard.api.artifacts import Reference
from dockyard.api.bodies import Body
from dockyard.api.deps import Acting, Caller, Services, require_admin
from dockyard.api.projects import IsName, authorized, reference
from dockyard.api.repositories import ProjectName, RepositoryName, full_name
from dockyard.api.schedules import CustomSchedule, ManualSchedule, PresetSchedule, ScheduleObj
from dockyard.jobs.named import NamedScheduleInfo
from dockyard.jobs.queue import JobInfo
from dockyard.scanning.policy import CVE_PATTERN, Allowlist
from dockyard.scanning.reports import SBOM_REPORT, VULNERABILITY_REPORT

router = APIRouter(tags=["scan"])
# 9999-12-31T23:59:59Z, the last moment a timestamp column holds.
LAST_SECOND = 253402300799
_ARTIFACT = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
ReportId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="The report's id.")]


class ScanRequest(Body):
    scan_type: Literal["vulnerability", "sbom"] = Field(
        default="vulnerability",
        description="vulnerability: a vulnerability report; sbom: also an SBOM, attached "
        "to the image as an OCI referrer.",
    )


class AllowlistItem(BaseModel):
    cve_id: str = Field(min_length=1, max_length=128, pattern=CVE_PATTERN)


class AllowlistBody(Body):
    items: list[AllowlistItem] = Field(default=[], max_length=10000)
    expires_at: int | None = Field(
        default=None,
        ge=0,
        le=LAST_SECOND,
        description="Unix seconds (up to the end of year 9999); null: never expires.",
    )


class AllowlistResp(BaseModel):
    project_id: int
    items: list[AllowlistItem]
    expires_at: int | None
    update_time: datetime | None


def allowlist_resp(allowlist: Allowlist) -> AllowlistResp:
    return AllowlistResp(
        project_id=allowlist.project_id or 0,
        items=[AllowlistItem(cve_id=item) for item in allowlist.items],
        expires_at=int(allowlist.expires_at.timestamp()) if allowlist.expires_at else None,
        update_time=allowlist.updated_at,
    )


def _expiry(body: AllowlistBody) -> datetime | None:
    return None if body.expires_at is None else datetime.fromtimestamp(body.expires_at, UTC)


@router.post(
    _ARTIFACT + "/scan",
    status_code=202,
    response_class=Response,
    summary="Scan an artifact (each image of an index)",
)
async def scan_artifact(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
    actor: Acting,
    body: ScanRequest | None = None,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.SCAN_CREATE)
    sbom = body is not None and body.scan_type == "sbom"
    await registry.scans.request(name, reference, actor, sbom=sbom)
    return Response(status_code=202)


@router.post(
    _ARTIFACT + "/scan/stop",
    status_code=202,
    response_class=Response,
    summary="Stop the scans of an artifact that have not finished",
)
async def stop_scan(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
    body: ScanRequest | None = None,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.SCAN_CREATE)
    await registry.scans.stop(name, reference)
    return Response(status_code=202)


@router.get(
    _ARTIFACT + "/scan/{report_id}/log",
    response_class=PlainTextResponse,
    summary="The log of a scan",
)
async def scan_log(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    report_id: ReportId,
    registry: Services,
    caller: Caller,
) -> PlainTextResponse:
    await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    return PlainTextResponse(await registry.scans.log(report_id))


@router.get(
    _ARTIFACT + "/additions/vulnerabilities",
    summary="The artifact's vulnerability report (an index: its images'), or its findings "
    "as CSV or JSON",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def vulnerabilities(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
    format: Annotated[
        Literal["harbor", "json", "csv"],
        Query(description="harbor: the report by MIME type; json, csv: one row per finding"),
    ] = "harbor",
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    report = await registry.scans.report(name, reference, VULNERABILITY_REPORT)
    if format == "harbor":
        return JSONResponse({VULNERABILITY_REPORT: report})
    rows = [_row(item) for item in report.get("vulnerabilities") or () if isinstance(item, dict)]
    if format == "json":
        return JSONResponse(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    filename = f"{name.replace('/', '_')}-vulnerabilities.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    _ARTIFACT + "/additions/sbom",
    summary="The artifact's SBOM report (the document is also attached as a referrer)",
)
async def sbom(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
) -> JSONResponse:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    return JSONResponse(await registry.scans.report(name, reference, SBOM_REPORT))


_COLUMNS = (
    "id",
    "package",
    "version",
    "fix_version",
    "severity",
    "cvss_v3",
    "package_type",
    "path",
    "description",
)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    vendor = item.get("vendor_attributes") or {}
    cvss = item.get("preferred_cvss") or {}
    return {
        "id": item.get("id", ""),
        "package": item.get("package", ""),
        "version": item.get("version", ""),
        "fix_version": item.get("fix_version", ""),
        "severity": item.get("severity", ""),
        "cvss_v3": cvss.get("score_v3", "") if isinstance(cvss, dict) else "",
        "package_type": vendor.get("package_type", "") if isinstance(vendor, dict) else "",
        "path": vendor.get("package_path", "") if isinstance(vendor, dict) else "",
        "description": item.get("description", ""),
    }


@router.get("/system/CVEAllowlist", response_model=AllowlistResp, summary="The system's allowlist")
async def get_system_allowlist(registry: Services, caller: Caller) -> AllowlistResp:
    require_admin(caller)
    return allowlist_resp(await registry.allowlists.get(None))


@router.put(
    "/system/CVEAllowlist",
    response_class=Response,
    summary="Set the system's allowlist (projects that reuse it honour it)",
)
async def set_system_allowlist(body: AllowlistBody, registry: Services, caller: Caller) -> Response:
    require_admin(caller)
    await registry.allowlists.set(None, [i.cve_id for i in body.items], _expiry(body))
    return Response(status_code=200)


@router.get(
    "/projects/{project_name_or_id}/cve_allowlist",
    response_model=AllowlistResp,
    summary="A project's own allowlist",
)
async def get_project_allowlist(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> AllowlistResp:
    project = await authorized(
        registry, caller, reference(project_name_or_id, is_name), Action.PROJECT_READ
    )
    return allowlist_resp(await registry.allowlists.get(project.id))


@router.put(
    "/projects/{project_name_or_id}/cve_allowlist",
    response_class=Response,
    summary="Set a project's own allowlist",
)
async def set_project_allowlist(
    project_name_or_id: str,
    body: AllowlistBody,
    registry: Services,
    caller: Caller,
    is_name: IsName = None,
) -> Response:
    project = await authorized(
        registry, caller, reference(project_name_or_id, is_name), Action.POLICY_MANAGE
    )
    await registry.allowlists.set(project.id, [i.cve_id for i in body.items], _expiry(body))
    return Response(status_code=200)


class ScanAllScheduleBody(Body):
    schedule: Annotated[
        PresetSchedule | ManualSchedule | CustomSchedule, Field(discriminator="type")
    ]


class ScanAllScheduleUpdate(Body):
    schedule: Annotated[PresetSchedule | CustomSchedule, Field(discriminator="type")]


class ScanAllScheduleResp(BaseModel):
    schedule: ScheduleObj
    creation_time: datetime | None
    update_time: datetime | None


class Stats(BaseModel):
    """Harbor's scan-all metrics: how far the latest run got, and its outcomes."""

    id: int | None = None
    total: int = 0
    completed: int = 0
    metrics: dict[str, int] = {}
    requester: str = ""
    ongoing: bool = False
    trigger: Literal["Manual", "Schedule", ""] = ""
    status: str = Field(default="", description="the run's job status")


def stats_resp(run: JobInfo | None) -> Stats:
    if run is None:
        return Stats()
    result = run.result if isinstance(run.result, dict) else {}
    return Stats(
        id=run.id,
        total=run.progress.total or int(result.get("total", 0)),
        completed=run.progress.done,
        metrics=dict(result.get("metrics") or {}),
        requester=str(run.payload.get("requester", "")),
        ongoing=run.finished_at is None,
        trigger="Schedule" if run.schedule_id is not None else "Manual",
        status=run.status,
    )


def scan_all_schedule_resp(info: NamedScheduleInfo) -> ScanAllScheduleResp:
    return ScanAllScheduleResp(
        schedule=ScheduleObj(type=info.type, cron=info.cron, next_scheduled_time=info.next_run_at),
        creation_time=info.created_at,
        update_time=info.updated_at,
    )


@router.get(
    "/system/scanAll/schedule",
    response_model=ScanAllScheduleResp,
    summary="The schedule of scans of all artifacts",
)
async def get_scan_all_schedule(registry: Services, caller: Caller) -> ScanAllScheduleResp:
    require_admin(caller)
    return scan_all_schedule_resp(await registry.scan_all.schedule())


@router.post(
    "/system/scanAll/schedule",
    status_code=201,
    response_model=Stats | ScanAllScheduleResp,
    summary="Scan all artifacts now (type Manual) or set the schedule",
)
async def create_scan_all_schedule(
    body: ScanAllScheduleBody, registry: Services, caller: Caller, actor: Acting
) -> Stats | ScanAllScheduleResp:
    require_admin(caller)
    if body.schedule.type == "Manual":
        return stats_resp(await registry.scan_all.start(actor.name))
    return scan_all_schedule_resp(
        await registry.scan_all.set_schedule(body.schedule.type, body.schedule.cron)
    )


@router.put(
    "/system/scanAll/schedule",
    response_model=ScanAllScheduleResp,
    summary="Change the schedule of scans of all artifacts",
)
async def update_scan_all_schedule(
    body: ScanAllScheduleUpdate, registry: Services, caller: Caller
) -> ScanAllScheduleResp:
    require_admin(caller)
    return scan_all_schedule_resp(
        await registry.scan_all.set_schedule(body.schedule.type, body.schedule.cron)
    )


@router.post(
    "/system/scanAll/stop",
    status_code=202,
    response_class=Response,
    summary="Stop the scan of all artifacts in progress",
)
async def stop_scan_all(registry: Services, caller: Caller) -> Response:
    require_admin(caller)
    await registry.scan_all.stop()
    return Response(status_code=202)


@router.get("/scans/all/metrics", response_model=Stats, summary="The latest scan of all artifacts")
async def scan_all_metrics(registry: Services, caller: Caller) -> Stats:
    require_admin(caller)
    return stats_resp(await registry.scan_all.latest())


@router.get(
    "/scans/schedule/metrics",
    response_model=Stats,
    summary="The latest scheduled scan of all artifacts",
)
async def scheduled_scan_metrics(registry: Services, caller: Caller) -> Stats:
    require_admin(caller)
    return stats_resp(await registry.scan_all.latest(scheduled=True))
