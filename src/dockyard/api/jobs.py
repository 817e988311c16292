"""/jobs: the background job queue as system admins see it, and cancelling a job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.api.deps import BigId, Caller, Services, require_admin
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.jobs.models import JobStatus
from dockyard.jobs.queue import KIND_MAX_LENGTH, JobInfo

router = APIRouter(prefix="/jobs", tags=["job"])


class JobProgress(BaseModel):
    done: int
    total: int | None = Field(description="None while the job does not know")
    message: str


class Job(BaseModel):
    id: int
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    attempts: int = Field(description="attempts started so far")
    max_attempts: int
    run_after: datetime = Field(description="not started before this (a delay or a back-off)")
    worker: str | None = Field(description="the worker that runs or last ran the job")
    heartbeat_time: datetime | None
    progress: JobProgress
    result: Any = Field(description="what the job returned, once it succeeded")
    error: str | None = Field(description="why the last attempt failed")
    cancel_requested: bool
    schedule_id: int | None = Field(description="the schedule that enqueued the job, if any")
    creation_time: datetime
    start_time: datetime | None
    end_time: datetime | None


def job_resp(job: JobInfo) -> Job:
    return Job(
        id=job.id,
        kind=job.kind,
        status=job.status,
        payload=job.payload,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        run_after=job.run_after,
        worker=job.claimed_by,
        heartbeat_time=job.heartbeat_at,
        progress=JobProgress(
            done=job.progress.done, total=job.progress.total, message=job.progress.message
        ),
        result=job.result,
        error=job.error,
        cancel_requested=job.cancel_requested,
        schedule_id=job.schedule_id,
        creation_time=job.created_at,
        start_time=job.started_at,
        end_time=job.finished_at,
    )


@router.get("", response_model=list[Job], summary="Jobs, newest first (system admins)")
async def list_jobs(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=KIND_MAX_LENGTH)] = None,
) -> list[Job]:
    require_admin(caller)
    jobs, total = await registry.jobs.search(
        status=status, kind=kind, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [job_resp(job) for job in jobs]


@router.get("/{job_id:int}", response_model=Job, summary="One job: status, progress, result")
async def get_job(job_id: BigId, registry: Services, caller: Caller) -> Job:
    require_admin(caller)
    return job_resp(await registry.jobs.get(job_id))


@router.post(
    "/{job_id:int}/cancel",
    response_model=Job,
    summary="Cancel a job: a queued one at once, a running one at its next progress report",
)
async def cancel_job(job_id: BigId, registry: Services, caller: Caller) -> Job:
    require_admin(caller)
    return job_resp(await registry.jobs.cancel(job_id))
