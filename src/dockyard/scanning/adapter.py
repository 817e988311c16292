"""The built-in scanner, served through the scanner-adapter API (v1.2), like any other.

The registry reaches it in process by default, and ``dockyard scanner`` serves the
same app on a port of its own. A scan request pulls the image from the registry it
names, inventories its layers (scanning/inventory/), matches the packages against the
advisory database (scanning/vulndb.py) and keeps the outcome in memory until it is
asked for; the spec lets adapters forget reports, and the registry keeps its own copy.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard import __version__
from dockyard.scanning import sbom
from dockyard.scanning.inventory import LayerError, inventory
from dockyard.scanning.packages import Inventory
from dockyard.scanning.pull import ImagePuller, PullError, open_layers, workspace
from dockyard.scanning.reports import (
    CYCLONEDX,
    ERROR,
    HARBOR_REPORT,
    METADATA_V1_1,
    SBOM_MEDIA_TYPES,
    SBOM_REPORT,
    SCAN_RESPONSE,
    SCANNABLE,
    SPDX,
    VULNERABILITY_MIME_TYPES,
    VULNERABILITY_REPORT,
    timestamp,
    worst,
)
from dockyard.scanning.vulndb import Finding, VulnDB

SCANNER = {"name": "dockyard", "vendor": "dockyard", "version": __version__}
# Outcomes kept for the registry to fetch; older ones are forgotten first.
_KEPT = 1000
_KEPT_SECONDS = 3600.0
_DIGEST = r"^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$"


class _Registry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2048)
    authorization: str = Field(default="", max_length=16384)


class _Artifact(BaseModel):
    model_config = ConfigDict(extra="ignore")
    repository: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
    digest: str = Field(pattern=_DIGEST)
    tag: str = ""
    mime_type: str = ""


class _Capability(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["vulnerability", "sbom"]
    produces_mime_types: list[str] = []
    parameters: dict[str, Any] | None = None


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    registry: _Registry
    artifact: _Artifact
    enabled_capabilities: list[_Capability] | None = None


@dataclass
class _Scan:
    request: ScanRequest
    started: float = field(default_factory=time.monotonic)
    done: bool = False
    error: str = ""
    inventory: Inventory | None = None
    findings: list[Finding] = field(default_factory=list)
    generated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    # Layers bigger than this in total are refused.
    max_image_bytes: int = 8 * 1024**3
    # Scans run at once; more wait their turn.
    concurrency: int = 2
    # When set, requests must carry it (Bearer, or X-ScannerAdapter-API-Key).
    api_key: str = ""
    # Where layers are written while a scan runs; empty: the system's temp dir.
    work_dir: str = ""
    # Seconds the registry is told to wait before asking for a report again.
    refresh_after: int = 1


class BuiltinScanner:
    """The adapter's state: scans in flight and done, and how to run one."""

    def __init__(
        self,
        vulndb: VulnDB,
        settings: AdapterSettings,
        client: Callable[[], httpx.AsyncClient],
    ) -> None:
        self.vulndb = vulndb
        self.settings = settings
        self._client = client
        self._scans: OrderedDict[str, _Scan] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def metadata(self) -> dict[str, Any]:
        version = await self.vulndb.version()
        updated = timestamp(version.imported_at) if version.imported_at else ""
        return {
            "scanner": SCANNER,
            "capabilities": [
                {
                    "type": "vulnerability",
                    "consumes_mime_types": list(SCANNABLE),
                    "produces_mime_types": list(VULNERABILITY_MIME_TYPES),
                },
                {
                    "type": "sbom",
                    "consumes_mime_types": list(SCANNABLE),
                    "produces_mime_types": [SBOM_REPORT],
                    "additional_attributes": {"sbom_media_types": list(SBOM_MEDIA_TYPES)},
                },
            ],
            "properties": {
                "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
                "harbor.scanner-adapter/vulnerability-database-updated-at": updated,
                "dockyard.scanner/advisories": str(version.advisories),
            },
        }

    def accept(self, request: ScanRequest) -> str:
        self._forget_old()
        scan_id = str(uuid.uuid4())
        self._scans[scan_id] = _Scan(request)
        task = asyncio.create_task(self._run(scan_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return scan_id

    def get(self, scan_id: str) -> _Scan | None:
        return self._scans.get(scan_id)

    async def _run(self, scan_id: str) -> None:
        scan = self._scans[scan_id]
        try:
            async with self._slots:
                scan.inventory, scan.findings = await self.scan(scan.request)
        except (PullError, LayerError) as exc:
            scan.error = str(exc)
        except Exception as exc:  # the registry sees a failed scan, not a lost one
            scan.error = f"the scan failed: {type(exc).__name__}: {exc}"
        finally:
            scan.generated_at = datetime.now(UTC)
            scan.done = True

    async def scan(self, request: ScanRequest) -> tuple[Inventory, list[Finding]]:
        async with self._client() as client:
            puller = ImagePuller(client, max_bytes=self.settings.max_image_bytes)
            with workspace(self.settings.work_dir or None) as directory:
                image = await puller.pull(
                    request.registry.url,
                    request.artifact.repository,
                    request.artifact.digest,
                    request.registry.authorization,
                    directory,
                )
                found = await asyncio.to_thread(_inventory_of, open_layers(image))
        return found, await self.vulndb.match(found)

    def _forget_old(self) -> None:
        now = time.monotonic()
        while self._scans:
            oldest = next(iter(self._scans.values()))
            if len(self._scans) < _KEPT and now - oldest.started < _KEPT_SECONDS:
                break
            self._scans.popitem(last=False)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _inventory_of(files: list[Any]) -> Inventory:
    try:
        return inventory(files)
    finally:
        for file in files:
            file.close()


def vulnerability_report(scan: _Scan) -> dict[str, Any]:
    """Harbor's vulnerability report (both report MIME types share the shape)."""
    items = [_item(finding) for finding in scan.findings]
    return {
        "generated_at": timestamp(scan.generated_at or datetime.now(UTC)),
        "artifact": _artifact(scan),
        "scanner": SCANNER,
        "severity": worst([item["severity"] for item in items]),
        "vulnerabilities": items,
    }


def sbom_report(scan: _Scan, media_type: str) -> dict[str, Any]:
    assert scan.inventory is not None
    artifact = scan.request.artifact
    write = sbom.cyclonedx if media_type == CYCLONEDX else sbom.spdx
    document = write(
        scan.inventory, name=artifact.repository, digest=artifact.digest, tool_version=__version__
    )
    return {
        "generated_at": timestamp(scan.generated_at or datetime.now(UTC)),
        "artifact": _artifact(scan),
        "scanner": SCANNER,
        "vendor_attributes": {"packages": len(scan.inventory.packages)},
        "media_type": media_type,
        "sbom": document,
    }


def _artifact(scan: _Scan) -> dict[str, Any]:
    artifact = scan.request.artifact
    result = {"repository": artifact.repository, "digest": artifact.digest}
    if artifact.tag:
        result["tag"] = artifact.tag
    if artifact.mime_type:
        result["mime_type"] = artifact.mime_type
    return result


def _item(finding: Finding) -> dict[str, Any]:
    package = finding.package
    cvss = {
        key: value
        for key, value in finding.cvss.items()
        if key in ("score_v3", "vector_v3", "score_v2", "vector_v2") and value is not None
    }
    item: dict[str, Any] = {
        "id": finding.advisory_id,
        "package": package.name,
        "version": package.version,
        "fix_version": finding.fixed_version or "",
        "severity": finding.severity,
        "description": finding.summary or finding.details,
        "links": list(finding.links),
        "cwe_ids": list(finding.cwe_ids),
        "vendor_attributes": {
            "aliases": list(finding.aliases),
            "package_type": package.type,
            "package_path": package.path,
            "purl": package.purl,
        },
    }
    if cvss:
        item["preferred_cvss"] = cvss
    return item


def adapter_app(scanner: BuiltinScanner) -> Starlette:
    """The adapter API as an ASGI app, mounted at ``/api/v1``."""

    def authorised(request: Request) -> bool:
        key = scanner.settings.api_key
        if not key:
            return True
        offered = request.headers.get("x-scanneradapter-api-key", "")
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered = offered or credential
        return hmac.compare_digest(offered.encode(), key.encode())

    async def metadata(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "a valid API key is required")
        return _json(200, await scanner.metadata(), METADATA_V1_1)

    async def scan(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "a valid API key is required")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "the scan request is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the scan request must be a JSON object")
        try:
            parsed = ScanRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            return _error(422, f"invalid {where}: {first['msg']}")
        mime_type = parsed.artifact.mime_type
        if mime_type and mime_type not in SCANNABLE:
            return _error(501, f"the scanner cannot scan artifacts of type {mime_type}")
        return _json(202, {"id": scanner.accept(parsed)}, SCAN_RESPONSE)

    async def report(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "a valid API key is required")
        held = scanner.get(request.path_params["scan_id"])
        if held is None:
            return _error(404, "no scan request has this id")
        accept = request.headers.get("accept", "").strip() or HARBOR_REPORT
        wanted = _wanted(accept)
        if wanted is None:
            return _error(501, f"the scanner cannot produce {accept}")
        if wanted == SBOM_REPORT:
            media_type = request.query_params.get("sbom_media_type", "")
            if media_type not in (CYCLONEDX, SPDX):
                return _error(
                    400, f"sbom_media_type must be {CYCLONEDX} or {SPDX} for an SBOM report"
                )
        if not held.done:
            refresh = str(scanner.settings.refresh_after)
            return Response(status_code=302, headers={"Refresh-After": refresh})
        if held.error:
            return _error(500, held.error)
        if wanted == SBOM_REPORT:
            return _json(200, sbom_report(held, media_type), SBOM_REPORT)
        return _json(200, vulnerability_report(held), wanted)

    return Starlette(
        routes=[
            Route("/api/v1/metadata", metadata, methods=["GET"]),
            Route("/api/v1/scan", scan, methods=["POST"]),
            Route("/api/v1/scan/{scan_id}/report", report, methods=["GET"]),
        ]
    )


def _wanted(accept: str) -> str | None:
    """The report type an Accept header asks for, of those the scanner produces."""
    offered = (*VULNERABILITY_MIME_TYPES, SBOM_REPORT)
    for part in accept.split(","):
        candidate = " ".join(part.split(";q=")[0].split())
        for mime_type in offered:
            if candidate.replace(" ", "") == mime_type.replace(" ", ""):
                return mime_type
        if candidate in ("*/*", "application/*"):
            return HARBOR_REPORT
    return None


def _json(status: int, body: dict[str, Any], media_type: str) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": {"message": message}}, ERROR)


__all__ = ["VULNERABILITY_REPORT", "AdapterSettings", "BuiltinScanner", "adapter_app"]
