"""/scanners: registered scanner adapters (system admins), and each project's choice.

As on Harbor: ``GET/POST /scanners``, ``GET/PUT/DELETE /scanners/{uuid}``,
``PATCH /scanners/{uuid}`` with ``{"is_default": true}``, ``GET /scanners/{uuid}/metadata``,
``POST /scanners/ping`` (try an adapter before registering it), and
``GET/PUT /projects/{project}/scanner`` with ``/scanner/candidates``. The access
credential is write-only: no answer carries it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from dockyard.access.rbac import Action
from dockyard.api.bodies import Body
from dockyard.api.deps import Caller, Services, require_admin, require_login
from dockyard.api.projects import IsName, authorized, reference
from dockyard.errors import Unavailable
from dockyard.scanning.client import AdapterError, Metadata
from dockyard.scanning.scanners import ScannerInfo, ScannerSpec

router = APIRouter(tags=["scanner"])
# The path converter matches UUIDs only, so that /scanners/ping is never taken for one.
ScannerId = Annotated[UUID, Path(description="The scanner's uuid.")]
# An adapter's base URL: http(s), a host name or IPv4 address, a port, a path; no
# credentials, query or fragment (the service checks the same).
URL_PATTERN = (
    r"^https?://[A-Za-z0-9._~-]+"
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
)
Auth = Literal["", "Basic", "Bearer", "X-ScannerAdapter-API-Key"]


class Registration(BaseModel):
    uuid: str
    name: str
    description: str
    url: str
    auth: str
    skip_cert_verify: bool
    use_internal_addr: bool
    disabled: bool
    is_default: bool
    builtin: bool
    has_ca_bundle: bool
    create_time: datetime
    update_time: datetime


class RegistrationReq(Body):
    name: str = Field(min_length=1, max_length=255, pattern=r"\S")
    url: str = Field(min_length=8, max_length=1024, pattern=URL_PATTERN)
    description: str = Field(default="", max_length=1024)
    auth: Auth = ""
    access_credential: str = Field(
        default="",
        max_length=16384,
        pattern=r"^[ -~]*$",
        description="sent in an HTTP header: printable ASCII",
    )
    skip_cert_verify: bool = False
    ca_bundle: str = Field(default="", max_length=1_000_000)
    use_internal_addr: bool = False
    disabled: bool = False

    def spec(self) -> ScannerSpec:
        return ScannerSpec(
            name=self.name,
            url=self.url,
            description=self.description,
            auth=self.auth,
            access_credential=self.access_credential,
            skip_cert_verify=self.skip_cert_verify,
            ca_bundle=self.ca_bundle,
            use_internal_addr=self.use_internal_addr,
            disabled=self.disabled,
        )


class DefaultReq(Body):
    is_default: Literal[True]


class ProjectScannerReq(Body):
    uuid: str = Field(pattern=r"^[0-9a-f-]{36}$")


class ScannerBrief(BaseModel):
    name: str
    vendor: str
    version: str


class CapabilityResp(BaseModel):
    type: str
    consumes_mime_types: list[str]
    produces_mime_types: list[str]
    additional_attributes: dict[str, Any] | None = None


class MetadataResp(BaseModel):
    scanner: ScannerBrief
    capabilities: list[CapabilityResp]
    properties: dict[str, str]


def registration(info: ScannerInfo) -> Registration:
    return Registration(
        uuid=info.uuid,
        name=info.name,
        description=info.description,
        url=info.url or "builtin",
        auth=info.auth,
        skip_cert_verify=info.skip_cert_verify,
        use_internal_addr=info.use_internal_addr,
        disabled=info.disabled,
        is_default=info.is_default,
        builtin=info.builtin,
        has_ca_bundle=info.has_ca_bundle,
        create_time=info.created_at,
        update_time=info.updated_at,
    )


def metadata_resp(metadata: Metadata) -> MetadataResp:
    return MetadataResp(
        scanner=ScannerBrief(name=metadata.name, vendor=metadata.vendor, version=metadata.version),
        capabilities=[
            CapabilityResp(
                type=c.type,
                consumes_mime_types=list(c.consumes),
                produces_mime_types=list(c.produces),
                additional_attributes={"sbom_media_types": list(c.sbom_media_types)}
                if c.sbom_media_types
                else None,
            )
            for c in metadata.capabilities
        ],
        properties=metadata.properties,
    )


def _unreachable(exc: AdapterError) -> Unavailable:
    return Unavailable(f"the scanner adapter failed: {exc}")


@router.get("/scanners", response_model=list[Registration], summary="Registered scanners")
async def list_scanners(registry: Services, caller: Caller) -> list[Registration]:
    require_admin(caller)
    return [registration(s) for s in await registry.scanners.list()]


@router.post("/scanners", status_code=201, response_class=Response, summary="Register a scanner")
async def create_scanner(body: RegistrationReq, registry: Services, caller: Caller) -> Response:
    require_admin(caller)
    created = await registry.scanners.create(body.spec())
    return Response(status_code=201, headers={"Location": f"/api/v2.0/scanners/{created.uuid}"})


@router.post(
    "/scanners/ping",
    response_model=MetadataResp,
    summary="Reach an adapter before registering it: its metadata, or why it failed",
)
async def ping_scanner(body: RegistrationReq, registry: Services, caller: Caller) -> MetadataResp:
    require_admin(caller)
    try:
        return metadata_resp(await registry.scanners.ping(body.spec()))
    except AdapterError as exc:
        raise _unreachable(exc) from None


@router.get("/scanners/{scanner_id:uuid}", response_model=Registration, summary="One scanner")
async def get_scanner(scanner_id: ScannerId, registry: Services, caller: Caller) -> Registration:
    require_admin(caller)
    return registration(await registry.scanners.get(str(scanner_id)))


@router.put("/scanners/{scanner_id:uuid}", response_class=Response, summary="Change a scanner")
async def update_scanner(
    scanner_id: ScannerId, body: RegistrationReq, registry: Services, caller: Caller
) -> Response:
    """An update without ``access_credential`` keeps the stored one."""
    require_admin(caller)
    await registry.scanners.update(str(scanner_id), body.spec())
    return Response(status_code=200)


@router.patch(
    "/scanners/{scanner_id:uuid}", response_class=Response, summary="Make a scanner the default"
)
async def set_default_scanner(
    scanner_id: ScannerId, body: DefaultReq, registry: Services, caller: Caller
) -> Response:
    require_admin(caller)
    await registry.scanners.set_default(str(scanner_id))
    return Response(status_code=200)


@router.delete(
    "/scanners/{scanner_id:uuid}", response_model=Registration, summary="Remove a scanner"
)
async def delete_scanner(scanner_id: ScannerId, registry: Services, caller: Caller) -> Registration:
    require_admin(caller)
    return registration(await registry.scanners.delete(str(scanner_id)))


@router.get(
    "/scanners/{scanner_id:uuid}/metadata",
    response_model=MetadataResp,
    summary="What a scanner can do, asked of its adapter now (its health check)",
)
async def scanner_metadata(
    scanner_id: ScannerId, registry: Services, caller: Caller
) -> MetadataResp:
    require_admin(caller)
    try:
        return metadata_resp(await registry.scanners.metadata(str(scanner_id)))
    except AdapterError as exc:
        raise _unreachable(exc) from None


@router.get(
    "/projects/{project_name_or_id}/scanner",
    response_model=Registration,
    summary="The scanner a project's scans go to",
)
async def project_scanner(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> Registration:
    project = await authorized(
        registry, caller, reference(project_name_or_id, is_name), Action.PROJECT_READ
    )
    chosen = await registry.scanners.for_project(project.id)
    if chosen is None:
        raise Unavailable("no scanner is enabled")
    return registration(chosen)


@router.put(
    "/projects/{project_name_or_id}/scanner",
    response_class=Response,
    summary="Choose a project's scanner",
)
async def set_project_scanner(
    project_name_or_id: str,
    body: ProjectScannerReq,
    registry: Services,
    caller: Caller,
    is_name: IsName = None,
) -> Response:
    project = await authorized(
        registry, caller, reference(project_name_or_id, is_name), Action.PROJECT_UPDATE
    )
    await registry.scanners.set_for_project(project.id, body.uuid)
    return Response(status_code=200)


@router.get(
    "/projects/{project_name_or_id}/scanner/candidates",
    response_model=list[Registration],
    summary="The scanners a project may choose",
)
async def scanner_candidates(
    project_name_or_id: str, registry: Services, caller: Caller, is_name: IsName = None
) -> list[Registration]:
    require_login(caller)
    await authorized(
        registry, caller, reference(project_name_or_id, is_name), Action.PROJECT_UPDATE
    )
    return [registration(s) for s in await registry.scanners.candidates()]
