"""/audit-logs and /projects/{project}/logs: who did what to which resource, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from dockyard.access.rbac import Action
from dockyard.api.deps import Caller, Services, require_admin
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import IsName, authorized, reference
from dockyard.events.services import AuditEntry
from dockyard.registry import Registry

router = APIRouter(tags=["auditlog"])

Operation = Literal[
    "create",
    "update",
    "delete",
    "push",
    "pull",
    "quota_exceed",
    "scan_completed",
    "scan_failed",
    "scan_stopped",
]
ResourceType = Literal["project", "repository", "artifact", "tag", "member", "robot", "user"]


class AuditLog(BaseModel):
    id: int
    username: str
    operation: str
    resource_type: str
    resource: str
    project_id: int | None
    client_ip: str
    op_time: datetime


def _entry(entry: AuditEntry) -> AuditLog:
    return AuditLog(
        id=entry.id,
        username=entry.operator,
        operation=entry.operation,
        resource_type=entry.resource_type,
        resource=entry.resource,
        project_id=entry.project_id,
        client_ip=entry.client_ip,
        op_time=entry.occurred_at,
    )


class _Filters:
    def __init__(
        self,
        username: Annotated[str | None, Query(max_length=512)] = None,
        operation: Operation | None = None,
        resource_type: ResourceType | None = None,
        resource: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> None:
        self.username = username
        self.operation = operation
        self.resource_type = resource_type
        self.resource = resource


Filters = Annotated[_Filters, Depends()]


@router.get("/audit-logs", response_model=list[AuditLog], summary="The audit log (system admins)")
async def audit_logs(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    filters: Filters,
) -> list[AuditLog]:
    require_admin(caller)
    return await _page(request, response, registry, page, filters, project_id=None)


@router.get(
    "/projects/{project_name_or_id}/logs",
    response_model=list[AuditLog],
    summary="The audit log of one project",
)
async def project_logs(
    project_name_or_id: str,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    filters: Filters,
    is_name: IsName = None,
) -> list[AuditLog]:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.LOG_READ)
    return await _page(request, response, registry, page, filters, project_id=project.id)


async def _page(
    request: Request,
    response: Response,
    registry: Registry,
    page: Page,
    filters: _Filters,
    *,
    project_id: int | None,
) -> list[AuditLog]:
    entries, total = await registry.events.search(
        project_id=project_id,
        operator=filters.username,
        operation=filters.operation,
        resource_type=filters.resource_type,
        resource=filters.resource,
        offset=page.offset,
        limit=page.size,
    )
    paginate(request, response, page, total)
    return [_entry(e) for e in entries]
