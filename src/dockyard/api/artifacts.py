"""/projects/{project}/repositories/{repository}/artifacts: list, read, copy and delete
artifacts, and tag or untag them.

Harbor's ``q`` query language is not spoken here; the list takes plain filters instead:
``type`` (the artifact kind), ``untagged``, ``tag`` and ``label`` (ids; repeated, all of
them). Lists show artifacts of their own: the children of an index and the accessories
of an artifact (signatures, SBOMs) appear under it, in ``references`` and
``accessories``, unless they are tagged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.access.rbac import Action
from dockyard.api.bodies import MAX_ID, Body
from dockyard.api.deps import Acting, Caller, Id, Services
from dockyard.api.labels import Label, label_resp
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import authorized
from dockyard.api.repositories import ProjectName, RepositoryName, full_name, repository_path
from dockyard.artifacts import mediatypes as mt
from dockyard.artifacts.catalog import Accessory as AccessoryInfo
from dockyard.artifacts.catalog import ArtifactFilter, ArtifactInfo, TagInfo
from dockyard.artifacts.copy import CopySource
from dockyard.blobs.digests import DIGEST_PATTERN
from dockyard.projects.names import COMPONENT_PATTERN, TAG_PATTERN, project_of
from dockyard.registry import Registry
from dockyard.scanning.reports import SBOM_REPORT
from dockyard.scanning.scans import Overview

router = APIRouter(
    prefix="/projects/{project_name}/repositories/{repository_name}/artifacts",
    tags=["artifact"],
)

_TAG = rf"^{TAG_PATTERN}$"
Reference = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=rf"^(?:{TAG_PATTERN}|{DIGEST_PATTERN})$",
        description="A tag, or a digest (sha256:...).",
    ),
]
TagName = Annotated[
    str, Path(min_length=1, max_length=128, pattern=_TAG, description="The tag's name.")
]
_KIND = "^(?:" + "|".join([*mt.KINDS, *(kind.upper() for kind in mt.KINDS)]) + ")$"
_SOURCE = rf"^{COMPONENT_PATTERN}(?:/{COMPONENT_PATTERN})*(?:@(?:{DIGEST_PATTERN})|:{TAG_PATTERN})$"


class Tag(BaseModel):
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None = None
    immutable: bool = False


class Accessory(BaseModel):
    """A manifest whose subject is the artifact: a signature, an SBOM, an attestation."""

    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    digest: str
    type: str
    artifact_type: str | None
    media_type: str
    size: int
    creation_time: datetime


class ArtifactReference(BaseModel):
    """A manifest an index lists."""

    parent_id: int
    child_digest: str
    platform: dict[str, Any] | None = None


class ScanSummary(BaseModel):
    total: int = 0
    fixable: int = 0
    summary: dict[str, int] = {}


class ScannerBrief(BaseModel):
    name: str = ""
    vendor: str = ""
    version: str = ""


class ScanOverview(BaseModel):
    """Harbor's NativeReportSummary: how the latest scan went and what it found."""

    report_id: str
    scan_status: str = Field(description="Pending, Running, Success, Error or Stopped")
    severity: str = Field(description="the worst severity found; None when nothing was")
    duration: int
    summary: ScanSummary | None
    start_time: datetime
    end_time: datetime | None
    complete_percent: int
    scanner: ScannerBrief | None


class SbomOverview(BaseModel):
    report_id: str
    scan_status: str
    sbom_digest: str
    duration: int
    start_time: datetime
    end_time: datetime | None
    scanner: ScannerBrief | None


class Artifact(BaseModel):
    id: int
    type: str = Field(description=f"The artifact's kind: one of {', '.join(mt.KINDS)}.")
    media_type: str = Field(description="The config's media type; an index's own type.")
    manifest_media_type: str
    artifact_type: str | None
    project_id: int
    repository_id: int
    repository_name: str
    digest: str
    size: int
    push_time: datetime
    pull_time: datetime | None = None
    annotations: dict[str, str]
    tags: list[Tag]
    accessories: list[Accessory]
    references: list[ArtifactReference]
    labels: list[Label]
    scan_overview: dict[str, ScanOverview] | None = Field(
        default=None, description="with_scan_overview: the latest scan, by report MIME type"
    )
    sbom_overview: SbomOverview | None = Field(
        default=None, description="with_sbom_overview: the latest SBOM generation"
    )


class TagReq(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=_TAG)


class LabelReq(Body):
    id: int = Field(ge=1, le=MAX_ID, description="the label to put on the artifact")


class _Filters:
    def __init__(
        self,
        kind: Annotated[
            str | None,
            Query(
                alias="type",
                max_length=32,
                pattern=_KIND,
                description=f"Only artifacts of this kind: {', '.join(mt.KINDS)}.",
            ),
        ] = None,
        untagged: Annotated[
            bool | None,
            Query(description="true: only untagged artifacts; false: only tagged ones."),
        ] = None,
        tag: Annotated[
            str | None,
            Query(max_length=128, pattern=_TAG, description="Only the artifact with this tag."),
        ] = None,
        label: Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
            Query(
                max_length=16,
                description="Only artifacts that carry this label (by id); repeated: all of them.",
            ),
        ] = None,
    ) -> None:
        self.filter = ArtifactFilter(
            kind=kind,
            tagged=None if untagged is None else not untagged,
            tag=tag,
            labels=tuple(label or ()),
        )


Filters = Annotated[_Filters, Depends()]


def tag_resp(tag: TagInfo) -> Tag:
    return Tag(
        id=tag.id,
        repository_id=tag.repository_id,
        artifact_id=tag.artifact_id,
        name=tag.name,
        push_time=tag.pushed_at,
        immutable=tag.immutable,
    )


def _accessory(artifact: ArtifactInfo, accessory: AccessoryInfo) -> Accessory:
    return Accessory(
        artifact_id=accessory.id,
        subject_artifact_id=artifact.id,
        subject_artifact_digest=artifact.digest,
        digest=accessory.digest,
        type=accessory.kind,
        artifact_type=accessory.artifact_type,
        media_type=accessory.media_type,
        size=accessory.size,
        creation_time=accessory.created_at,
    )


def artifact_resp(artifact: ArtifactInfo) -> Artifact:
    return Artifact(
        id=artifact.id,
        type=artifact.kind,
        media_type=artifact.media_type,
        manifest_media_type=artifact.manifest_media_type,
        artifact_type=artifact.artifact_type,
        project_id=artifact.project_id,
        repository_id=artifact.repository_id,
        repository_name=artifact.repository_name,
        digest=artifact.digest,
        size=artifact.size,
        push_time=artifact.pushed_at,
        pull_time=artifact.pulled_at,
        annotations=artifact.annotations,
        tags=[tag_resp(t) for t in artifact.tags],
        accessories=[_accessory(artifact, a) for a in artifact.accessories],
        references=[
            ArtifactReference(parent_id=artifact.id, child_digest=r.digest, platform=r.platform)
            for r in artifact.references
        ],
        labels=[label_resp(label) for label in artifact.labels],
    )


WithScanOverview = Annotated[
    bool, Query(description="Add each artifact's latest scan (scan_overview).")
]
WithSbomOverview = Annotated[
    bool, Query(description="Add each artifact's latest SBOM generation (sbom_overview).")
]


async def with_overviews(
    registry: Registry, artifacts: list[Artifact], scan: bool, sbom: bool
) -> list[Artifact]:
    """The artifacts, with their scan and SBOM overviews when asked for."""
    if not (scan or sbom) or not artifacts:
        return artifacts
    overviews = await registry.scans.overviews([a.id for a in artifacts])
    for artifact in artifacts:
        held = overviews.get(artifact.id, {})
        if scan:
            artifact.scan_overview = {
                mime_type: _scan_overview(overview)
                for mime_type, overview in held.items()
                if mime_type != SBOM_REPORT
            }
        if sbom and SBOM_REPORT in held:
            overview = held[SBOM_REPORT]
            artifact.sbom_overview = SbomOverview(
                report_id=overview.report_id,
                scan_status=overview.status,
                sbom_digest=overview.sbom_digest,
                duration=overview.duration,
                start_time=overview.started_at,
                end_time=overview.ended_at,
                scanner=ScannerBrief(**overview.scanner) if overview.scanner else None,
            )
    return artifacts


def _scan_overview(overview: Overview) -> ScanOverview:
    return ScanOverview(
        report_id=overview.report_id,
        scan_status=overview.status,
        severity=overview.severity,
        duration=overview.duration,
        summary=ScanSummary(**overview.summary) if overview.summary else None,
        start_time=overview.started_at,
        end_time=overview.ended_at,
        complete_percent=100 if overview.status in ("Success", "Error", "Stopped") else 0,
        scanner=ScannerBrief(**overview.scanner) if overview.scanner else None,
    )


@router.get("", response_model=list[Artifact], summary="The artifacts of a repository")
async def list_artifacts(
    project_name: ProjectName,
    repository_name: RepositoryName,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    filters: Filters,
    with_scan_overview: WithScanOverview = False,
    with_sbom_overview: WithSbomOverview = False,
) -> list[Artifact]:
    """Newest first. The children of an index and the accessories of an artifact are
    listed under it (``references``, ``accessories``), unless they are tagged."""
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    artifacts, total = await registry.catalog.artifacts(
        name, filters.filter, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return await with_overviews(
        registry, [artifact_resp(a) for a in artifacts], with_scan_overview, with_sbom_overview
    )


@router.post(
    "",
    status_code=201,
    response_class=Response,
    summary="Copy an artifact here from another repository",
)
async def copy_artifact(
    project_name: ProjectName,
    repository_name: RepositoryName,
    registry: Services,
    caller: Caller,
    actor: Acting,
    source: Annotated[
        str,
        Query(
            alias="from",
            min_length=3,
            max_length=1024,
            pattern=_SOURCE,
            description="project/repository@digest, or project/repository:tag (the copy "
            "gets the same tag).",
        ),
    ],
) -> Response:
    target = await full_name(
        registry, caller, project_name, repository_name, Action.REPOSITORY_PUSH
    )
    copy_from = CopySource.parse(source)
    await authorized(registry, caller, project_of(copy_from.name), Action.REPOSITORY_PULL)
    digest = await registry.copies.copy(target, copy_from, actor)
    location = f"{repository_path(target)}/artifacts/{digest}"
    return Response(status_code=201, headers={"Location": location})


@router.get("/{reference}", response_model=Artifact, summary="One artifact, by tag or digest")
async def get_artifact(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
    with_scan_overview: WithScanOverview = False,
    with_sbom_overview: WithSbomOverview = False,
) -> Artifact:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    artifact = artifact_resp(await registry.catalog.artifact(name, reference))
    return (await with_overviews(registry, [artifact], with_scan_overview, with_sbom_overview))[0]


@router.delete(
    "/{reference}",
    response_class=Response,
    summary="Delete an artifact, by tag or digest, with all its tags",
)
async def delete_artifact(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_DELETE)
    await registry.manifests.delete_artifact(name, reference, actor)
    return Response(status_code=200)


@router.get("/{reference}/tags", response_model=list[Tag], summary="The tags of an artifact")
async def list_tags(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
) -> list[Tag]:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_READ)
    tags, total = await registry.catalog.tags(name, reference, offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [tag_resp(t) for t in tags]


@router.post(
    "/{reference}/tags",
    status_code=201,
    response_class=Response,
    summary="Tag an artifact (409 if the repository has the tag already)",
)
async def create_tag(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    body: TagReq,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.TAG_CREATE)
    await registry.tags.create(name, reference, body.name, actor)
    location = f"{repository_path(name)}/artifacts/{reference}/tags/{body.name}"
    return Response(status_code=201, headers={"Location": location})


@router.delete(
    "/{reference}/tags/{tag_name}",
    response_class=Response,
    summary="Remove a tag from an artifact",
)
async def delete_tag(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    tag_name: TagName,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.TAG_DELETE)
    await registry.tags.delete(name, reference, tag_name, actor)
    return Response(status_code=200)


@router.post("/{reference}/labels", response_class=Response, summary="Put a label on an artifact")
async def add_label(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    body: LabelReq,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    """A global label, or one of the artifact's project; 409 when it carries it already."""
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_LABEL)
    await registry.labels.attach(name, reference, body.id, actor=actor)
    return Response(status_code=200)


@router.delete(
    "/{reference}/labels/{label_id:int}",
    response_class=Response,
    summary="Take a label off an artifact",
)
async def remove_label(
    project_name: ProjectName,
    repository_name: RepositoryName,
    reference: Reference,
    label_id: Id,
    registry: Services,
    caller: Caller,
    actor: Acting,
) -> Response:
    name = await full_name(registry, caller, project_name, repository_name, Action.ARTIFACT_LABEL)
    await registry.labels.detach(name, reference, label_id, actor=actor)
    return Response(status_code=200)
