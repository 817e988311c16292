"""/system/gc: garbage collection as Harbor's API offers it (system admins): run now or by
schedule, with dry runs; the history of runs with their figures, progress and log; stop."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from dockyard.api.bodies import Body
from dockyard.api.deps import BigId, Caller, Services, require_admin
from dockyard.api.jobs import JobProgress
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.schedules import (
    CustomSchedule,
    ManualSchedule,
    PresetSchedule,
    ScheduleObj,
)
from dockyard.blobs.gc import MAX_GRACE_MINUTES
from dockyard.blobs.gc_runs import GCSchedule, describe
from dockyard.jobs.models import JobStatus
from dockyard.jobs.queue import JobInfo

router = APIRouter(prefix="/system/gc", tags=["gc"])

# Harbor's names for a run's state.
HARBOR_STATUS: dict[str, str] = {
    "queued": "Pending",
    "running": "Running",
    "cancelled": "Stopped",
    "failed": "Error",
    "succeeded": "Success",
}


class GCParameters(Body):
    dry_run: bool = Field(default=False, description="report what would go, remove nothing")
    delete_untagged: bool | None = Field(
        default=None,
        description="also delete artifacts without tags (default: the gc.delete_untagged "
        "setting); an accessory stays while its subject does",
    )
    grace_minutes: float | None = Field(
        default=None,
        ge=0,
        le=MAX_GRACE_MINUTES,
        description="keep blobs and artifacts used within this many minutes "
        "(default: the gc.grace_minutes setting, 120)",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Harbor's; accepted for its clients, without effect: a run works in "
        "batches of one task",
    )

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"workers"})


class GCScheduleBody(Body):
    schedule: Annotated[
        PresetSchedule | ManualSchedule | CustomSchedule, Field(discriminator="type")
    ]
    parameters: GCParameters = Field(default_factory=GCParameters)


class GCScheduleUpdate(Body):
    schedule: Annotated[PresetSchedule | CustomSchedule, Field(discriminator="type")]
    parameters: GCParameters = Field(default_factory=GCParameters)


class GCScheduleResp(BaseModel):
    schedule: ScheduleObj
    parameters: dict[str, Any]
    creation_time: datetime | None
    update_time: datetime | None


class GCResult(BaseModel):
    dry_run: bool
    delete_untagged: bool
    grace_minutes: float
    artifacts_deleted: int = Field(description="untagged artifacts (a dry run: would be)")
    links_removed: int = Field(description="blobs dropped by repositories that do not use them")
    blobs_deleted: int
    bytes_freed: int
    uploads_purged: int = Field(description="abandoned upload sessions, with their data")
    seconds: float


class GCHistory(BaseModel):
    id: int
    job_name: Literal["GARBAGE_COLLECTION"] = "GARBAGE_COLLECTION"
    job_kind: Literal["MANUAL", "SCHEDULE"]
    job_parameters: str = Field(description="the run's parameters, as a JSON text (Harbor's)")
    job_status: str = Field(description="Harbor's: Pending, Running, Stopped, Error, Success")
    status: JobStatus
    deleted: bool = False
    progress: JobProgress
    result: GCResult | None = Field(description="the run's figures, once it succeeded")
    error: str | None
    creation_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    update_time: datetime


def history_resp(job: JobInfo) -> GCHistory:
    return GCHistory(
        id=job.id,
        job_kind="SCHEDULE" if job.schedule_id is not None else "MANUAL",
        job_parameters=json.dumps(job.payload, sort_keys=True),
        job_status=HARBOR_STATUS[job.status],
        status=job.status,
        progress=JobProgress(
            done=job.progress.done, total=job.progress.total, message=job.progress.message
        ),
        result=GCResult.model_validate(job.result) if job.status == "succeeded" else None,
        error=job.error,
        creation_time=job.created_at,
        start_time=job.started_at,
        end_time=job.finished_at,
        update_time=job.finished_at or job.heartbeat_at or job.started_at or job.created_at,
    )


def schedule_resp(schedule: GCSchedule) -> GCScheduleResp:
    return GCScheduleResp(
        schedule=ScheduleObj(
            type=schedule.type, cron=schedule.cron, next_scheduled_time=schedule.next_run_at
        ),
        parameters=schedule.parameters,
        creation_time=schedule.created_at,
        update_time=schedule.updated_at,
    )


@router.get("", response_model=list[GCHistory], summary="Garbage collection runs, newest first")
async def list_runs(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
) -> list[GCHistory]:
    require_admin(caller)
    runs, total = await registry.gc.history(offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [history_resp(run) for run in runs]


@router.get("/{gc_id:int}", response_model=GCHistory, summary="One run: status, progress, figures")
async def get_run(gc_id: BigId, registry: Services, caller: Caller) -> GCHistory:
    require_admin(caller)
    return history_resp(await registry.gc.get(gc_id))


@router.put(
    "/{gc_id:int}",
    response_model=GCHistory,
    summary="Stop a run: a queued one at once, a running one after its current batch",
)
async def stop_run(gc_id: BigId, registry: Services, caller: Caller) -> GCHistory:
    require_admin(caller)
    return history_resp(await registry.gc.stop(gc_id))


@router.get(
    "/{gc_id:int}/log",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
    summary="A run's log, as text",
)
async def run_log(gc_id: BigId, registry: Services, caller: Caller) -> PlainTextResponse:
    require_admin(caller)
    return PlainTextResponse(_log(await registry.gc.get(gc_id)))


def _log(job: JobInfo) -> str:
    lines = [
        f"garbage collection {job.id}, {'scheduled' if job.schedule_id else 'manual'}, "
        f"created {job.created_at.isoformat()}",
        f"parameters: {json.dumps(job.payload, sort_keys=True)}",
    ]
    if job.started_at:
        lines.append(f"started {job.started_at.isoformat()} by {job.claimed_by}")
    progress = job.progress
    if progress.message:
        total = f" of {progress.total}" if progress.total is not None else ""
        lines.append(f"progress: {progress.done}{total}: {progress.message}")
    if job.status == "succeeded" and isinstance(job.result, dict):
        lines.append(describe(job.result))
    if job.error:
        lines.append(f"error: {job.error}")
    ended = f" at {job.finished_at.isoformat()}" if job.finished_at else ""
    lines.append(f"status: {job.status}{ended}")
    return "\n".join(lines) + "\n"


@router.get("/schedule", response_model=GCScheduleResp, summary="The schedule of runs")
async def get_schedule(registry: Services, caller: Caller) -> GCScheduleResp:
    require_admin(caller)
    return schedule_resp(await registry.gc.schedule())


@router.post(
    "/schedule",
    status_code=201,
    response_model=GCHistory | GCScheduleResp,
    summary="Run now (type Manual: the run, with its Location) or set the schedule",
)
async def create_schedule(
    body: GCScheduleBody, response: Response, registry: Services, caller: Caller
) -> GCHistory | GCScheduleResp:
    require_admin(caller)
    if body.schedule.type == "Manual":
        run = await registry.gc.start(body.parameters.payload())
        response.headers["Location"] = f"/api/v2.0/system/gc/{run.id}"
        return history_resp(run)
    return schedule_resp(
        await registry.gc.set_schedule(
            body.schedule.type, body.schedule.cron, body.parameters.payload()
        )
    )


@router.put("/schedule", response_model=GCScheduleResp, summary="Change the schedule of runs")
async def update_schedule(
    body: GCScheduleUpdate, registry: Services, caller: Caller
) -> GCScheduleResp:
    require_admin(caller)
    return schedule_resp(
        await registry.gc.set_schedule(
            body.schedule.type, body.schedule.cron, body.parameters.payload()
        )
    )
