"""/quotas: each project's storage and artifact limits and its exact usage, in Harbor's shape
(system admins; a project's members see its quota in the project summary)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.api.bodies import Body
from dockyard.api.deps import Caller, Id, Services, require_admin
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.projects.quotas import MAX_LIMIT, QuotaInfo

router = APIRouter(prefix="/quotas", tags=["quota"])


class Resources(BaseModel):
    storage: int = Field(description="bytes of the distinct blobs; -1 in hard: unlimited")
    count: int = Field(description="artifacts (manifests); -1 in hard: unlimited")


class QuotaRef(BaseModel):
    id: int
    name: str


class Quota(BaseModel):
    id: int = Field(description="the quota's id, which is its project's")
    ref: QuotaRef
    hard: Resources
    used: Resources


class HardLimits(Body):
    storage: int | None = Field(default=None, ge=-1, le=MAX_LIMIT)
    count: int | None = Field(default=None, ge=-1, le=MAX_LIMIT)


class QuotaUpdate(Body):
    hard: HardLimits


def quota_resp(quota: QuotaInfo) -> Quota:
    return Quota(
        id=quota.project_id,
        ref=QuotaRef(id=quota.project_id, name=quota.project),
        hard=Resources(storage=quota.storage_limit, count=quota.count_limit),
        used=Resources(storage=quota.storage_used, count=quota.artifact_count),
    )


@router.get("", response_model=list[Quota], summary="Quotas by project name")
async def list_quotas(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    reference: Annotated[Literal["project"] | None, Query()] = None,
    reference_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[Quota]:
    require_admin(caller)
    quotas, total = await registry.quotas.search(
        project_id=reference_id, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [quota_resp(q) for q in quotas]


@router.get("/{quota_id:int}", response_model=Quota, summary="One project's quota")
async def get_quota(quota_id: Id, registry: Services, caller: Caller) -> Quota:
    require_admin(caller)
    return quota_resp(await registry.quotas.get(quota_id))


@router.put(
    "/{quota_id:int}",
    response_model=Quota,
    summary="Change a project's limits (-1: unlimited); a limit under the usage stops growth",
)
async def update_quota(
    quota_id: Id, body: QuotaUpdate, registry: Services, caller: Caller
) -> Quota:
    require_admin(caller)
    return quota_resp(
        await registry.quotas.set_limits(quota_id, storage=body.hard.storage, count=body.hard.count)
    )
