"""/schedules: cron schedules that enqueue background jobs (system admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dockyard.api.bodies import Body
from dockyard.api.deps import Caller, Id, Services, require_admin
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.errors import InvalidInput
from dockyard.jobs.cron import CRON_MAX_LENGTH, CRON_PATTERN, check_cron
from dockyard.jobs.queue import KIND_MAX_LENGTH
from dockyard.jobs.schedules import NAME_MAX_LENGTH, ScheduleInfo
from dockyard.registry import JOB_KINDS

router = APIRouter(prefix="/schedules", tags=["schedule"])

NAME = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"
_CRON_HELP = (
    'Harbor\'s six fields, seconds first ("0 0 3 * * *": daily at 03:00 UTC), '
    'cron\'s five ("0 3 * * *"), or an alias like "@daily"; times are UTC'
)
# The grammar, stated in the schema; the service checks it, with a message that explains
# it rather than pydantic's, which would quote the whole expression.
_CRON: dict[str, Any] = {"pattern": CRON_PATTERN}
# Likewise the kinds: the service names the known ones when given another.
_KINDS: dict[str, Any] = {"enum": list(JOB_KINDS)}


Cron = Annotated[
    str, Field(max_length=CRON_MAX_LENGTH, description=_CRON_HELP, json_schema_extra=_CRON)
]


def _checked(cron: str) -> str:
    try:
        return check_cron(cron)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


# Checked in the body's validation, for bodies that take a cron expression beside other
# choices (a schedule type), so that no request with a bad one passes.
CheckedCron = Annotated[Cron, AfterValidator(_checked)]


# The schedule bodies of what runs by Harbor's schedule types (GC, scan all).


class _Schedule(Body):
    # A schedule is nothing but its type and cron: anything else is a mistake to point out.
    model_config = ConfigDict(strict=True, extra="forbid")
    cron: CheckedCron | None = None


class PresetSchedule(_Schedule):
    type: Literal["None", "Hourly", "Daily", "Weekly"] = Field(
        description="None: no scheduled runs; the others: at the top of the hour, daily at "
        "00:00 UTC, on Sundays at 00:00 UTC"
    )


class ManualSchedule(_Schedule):
    type: Literal["Manual"] = Field(description="run once, now")


class CustomSchedule(_Schedule):
    type: Literal["Custom"]
    cron: CheckedCron


class ScheduleObj(BaseModel):
    type: Literal["None", "Hourly", "Daily", "Weekly", "Custom", "Manual"]
    cron: str
    next_scheduled_time: datetime | None


class ScheduleCreate(Body):
    free_json = frozenset({"payload"})
    name: str = Field(pattern=NAME, max_length=NAME_MAX_LENGTH)
    kind: str = Field(
        max_length=KIND_MAX_LENGTH,
        description="the kind of job to enqueue",
        json_schema_extra=_KINDS,
    )
    cron: Cron
    payload: dict[str, Any] = Field(default_factory=dict, description="given to each job")
    enabled: bool = True


class ScheduleUpdate(Body):
    free_json = frozenset({"payload"})
    cron: Cron | None = None
    payload: dict[str, Any] | None = None
    enabled: bool | None = None


class Schedule(BaseModel):
    id: int
    name: str
    kind: str
    cron: str
    payload: dict[str, Any]
    enabled: bool
    next_run_time: datetime | None = Field(
        description="None while disabled, or when no date matches the expression"
    )
    last_run_time: datetime | None
    creation_time: datetime
    update_time: datetime


def schedule_resp(schedule: ScheduleInfo) -> Schedule:
    return Schedule(
        id=schedule.id,
        name=schedule.name,
        kind=schedule.kind,
        cron=schedule.cron,
        payload=schedule.payload,
        enabled=schedule.enabled,
        next_run_time=schedule.next_run_at,
        last_run_time=schedule.last_run_at,
        creation_time=schedule.created_at,
        update_time=schedule.updated_at,
    )


@router.get("", response_model=list[Schedule], summary="Schedules by name (system admins)")
async def list_schedules(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
) -> list[Schedule]:
    require_admin(caller)
    schedules, total = await registry.schedules.search(offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [schedule_resp(s) for s in schedules]


@router.post(
    "",
    status_code=201,
    response_model=Schedule,
    summary="Create a schedule; the built-in ones come back on restart unless disabled",
)
async def create_schedule(
    body: ScheduleCreate, response: Response, registry: Services, caller: Caller
) -> Schedule:
    require_admin(caller)
    schedule = await registry.schedules.create(
        body.name, body.kind, body.cron, body.payload, enabled=body.enabled
    )
    response.headers["Location"] = f"/api/v2.0/schedules/{schedule.id}"
    return schedule_resp(schedule)


@router.get("/{schedule_id:int}", response_model=Schedule, summary="One schedule")
async def get_schedule(schedule_id: Id, registry: Services, caller: Caller) -> Schedule:
    require_admin(caller)
    return schedule_resp(await registry.schedules.get(schedule_id))


@router.put("/{schedule_id:int}", response_model=Schedule, summary="Change a schedule")
async def update_schedule(
    schedule_id: Id, body: ScheduleUpdate, registry: Services, caller: Caller
) -> Schedule:
    require_admin(caller)
    schedule = await registry.schedules.update(
        schedule_id, cron=body.cron, payload=body.payload, enabled=body.enabled
    )
    return schedule_resp(schedule)


@router.delete("/{schedule_id:int}", response_class=Response, summary="Delete a schedule")
async def delete_schedule(schedule_id: Id, registry: Services, caller: Caller) -> Response:
    require_admin(caller)
    await registry.schedules.delete(schedule_id)
    return Response(status_code=200)
