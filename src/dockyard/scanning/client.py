"""The registry's side of the scanner-adapter API: talking to one adapter.

Written to the spec (shared/specs/harbor-scanner), so that any adapter works
unchanged: Harbor's Trivy adapter, another vendor's, or dockyard's own.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from dockyard.scanning.reports import ERROR, METADATA_V1_1, SBOM_REPORT, SCAN_REQUEST_V1_1

# Accept for /metadata: both versions the spec defines.
_METADATA_ACCEPT = f"{METADATA_V1_1}, application/vnd.scanner.adapter.metadata+json; version=1.0"


class AdapterError(Exception):
    """The adapter failed or could not be reached; the message says which, for the log."""


class ScanLost(AdapterError):
    """The adapter does not know the scan (it restarted, or forgot it): scan again."""


@dataclass(frozen=True, slots=True)
class Capability:
    type: str
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    sbom_media_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Metadata:
    name: str
    vendor: str
    version: str
    capabilities: tuple[Capability, ...]
    properties: dict[str, str]
    raw: dict[str, Any]

    def produces(self, kind: str) -> tuple[str, ...]:
        """The report MIME types of a capability ("vulnerability" or "sbom")."""
        return tuple(
            mime_type
            for capability in self.capabilities
            if capability.type == kind
            for mime_type in capability.produces
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """The report is not ready; ask again after this many seconds."""

    refresh_after: float


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an adapter is and how to reach it, as a registered scanner says."""

    url: str
    auth: str = ""
    credential: str = ""
    skip_cert_verify: bool = False
    ca_bundle: str = ""


class AdapterClient:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {}
        if endpoint.auth in ("Basic", "Bearer"):
            headers["Authorization"] = f"{endpoint.auth} {endpoint.credential}"
        elif endpoint.auth == "X-ScannerAdapter-API-Key":
            headers["X-ScannerAdapter-API-Key"] = endpoint.credential
        verify: ssl.SSLContext | bool = not endpoint.skip_cert_verify
        if endpoint.ca_bundle and not endpoint.skip_cert_verify:
            try:
                verify = ssl.create_default_context(cadata=endpoint.ca_bundle)
            except (ssl.SSLError, ValueError, TypeError):
                # TypeError: text that is not ASCII, which no PEM bundle holds.
                raise AdapterError(
                    "the scanner's CA bundle holds no valid PEM certificate"
                ) from None
        self._client = httpx.AsyncClient(
            base_url=endpoint.url.rstrip("/") + "/api/v1",
            headers=headers,
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    async def __aenter__(self) -> AdapterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def metadata(self) -> Metadata:
        body = await self._json("GET", "/metadata", 200, headers={"Accept": _METADATA_ACCEPT})
        return parse_metadata(body)

    async def scan(self, request: dict[str, Any]) -> str:
        """Submit a scan request; the adapter's id for it."""
        body = await self._json(
            "POST",
            "/scan",
            202,
            content=orjson.dumps(request),
            headers={"Content-Type": SCAN_REQUEST_V1_1, "Accept": "application/json, */*"},
        )
        scan_id = body.get("id")
        if not isinstance(scan_id, str) or not scan_id:
            raise AdapterError("the adapter accepted the scan but returned no id")
        return scan_id

    async def report(
        self, scan_id: str, mime_type: str, *, sbom_media_type: str = ""
    ) -> dict[str, Any] | Pending:
        """The report of a scan, or :class:`Pending` while it is being made."""
        params = {"sbom_media_type": sbom_media_type} if mime_type == SBOM_REPORT else None
        response = await self._send(
            "GET",
            f"/scan/{scan_id}/report",
            headers={"Accept": mime_type},
            params=params,
        )
        if response.status_code == 302:
            header = response.headers.get("refresh-after") or response.headers.get("retry-after")
            return Pending(_seconds(header))
        if response.status_code == 404:
            raise ScanLost("the adapter has no scan with this id (it may have restarted)")
        return _body(response, 200)

    async def _json(self, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        return _body(await self._send(method, path, **kwargs), expect)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, follow_redirects=False, **kwargs)
        except httpx.TimeoutException:
            raise AdapterError(f"the adapter did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise AdapterError(f"the adapter could not be reached: {exc}") from None


def parse_metadata(body: dict[str, Any]) -> Metadata:
    scanner = body.get("scanner")
    if not isinstance(scanner, dict) or not isinstance(body.get("capabilities"), list):
        raise AdapterError("the adapter's metadata has no scanner or capabilities")
    capabilities = []
    for item in body["capabilities"]:
        if not isinstance(item, dict):
            continue
        attributes = item.get("additional_attributes")
        media_types = attributes.get("sbom_media_types", ()) if isinstance(attributes, dict) else ()
        capabilities.append(
            Capability(
                # Without a type, the spec says, a capability is a vulnerability scan.
                type=str(item.get("type") or "vulnerability"),
                consumes=tuple(str(m) for m in item.get("consumes_mime_types") or ()),
                produces=tuple(str(m) for m in item.get("produces_mime_types") or ()),
                sbom_media_types=tuple(str(m) for m in media_types),
            )
        )
    properties = body.get("properties")
    return Metadata(
        name=str(scanner.get("name", "")),
        vendor=str(scanner.get("vendor", "")),
        version=str(scanner.get("version", "")),
        capabilities=tuple(capabilities),
        properties={str(k): str(v) for k, v in properties.items()}
        if isinstance(properties, dict)
        else {},
        raw=body,
    )


def _body(response: httpx.Response, expect: int) -> dict[str, Any]:
    if response.status_code != expect:
        raise AdapterError(
            f"the adapter answered {response.status_code}: {_message(response)}".rstrip(": ")
        )
    try:
        body = response.json()
    except ValueError:
        raise AdapterError("the adapter's answer is not JSON") from None
    if not isinstance(body, dict):
        raise AdapterError("the adapter's answer is not a JSON object")
    return body


def _message(response: httpx.Response) -> str:
    """The adapter's error message (ErrorResponse), or the start of its body."""
    content_type = response.headers.get("content-type", "")
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:1000]
    return "" if ERROR in content_type else response.text[:200]


def _seconds(header: str | None) -> float:
    try:
        return min(max(float(header or 1), 0.2), 60.0)
    except ValueError:
        return 1.0
