"""Manifest endpoints, and content discovery: tags, catalog, referrers."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dockyard.artifacts import mediatypes as mt
from dockyard.errors import PaginationInvalid, TooLarge
from dockyard.events.services import Actor
from dockyard.oci.access import CALLER_NAME, POLICY_EXEMPT
from dockyard.oci.names import repository_name
from dockyard.registry import Registry


class ManifestEndpoints:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def manifest(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        reference = request.path_params["reference"]
        manifests = self.registry.manifests
        if request.method == "PUT":
            body = await _read_limited(request, self.registry.settings.limits.manifest_max_bytes)
            pushed = await manifests.push(
                name, reference, body, request.headers.get("content-type"), _actor(request)
            )
            headers = {
                "Location": f"/v2/{name}/manifests/{pushed.digest}",
                "Docker-Content-Digest": pushed.digest,
                "Content-Length": "0",
            }
            if pushed.subject:
                headers["OCI-Subject"] = pushed.subject
            return Response(status_code=201, headers=headers)
        if request.method == "DELETE":
            await manifests.delete(name, reference, _actor(request))
            return Response(status_code=202)
        head = request.method == "HEAD"
        stored = await manifests.get(name, reference, with_content=not head)
        if not head:
            await self.registry.pull_policy.check(
                name, stored, exempt=bool(request.scope.get(POLICY_EXEMPT))
            )
            # A pull is a GET of the manifest, as Harbor counts it; HEADs only look.
            where = f"@{reference}" if ":" in reference else f":{reference}"
            self.registry.pulls.record(
                stored.id, stored.project_id, f"{name}{where}", _actor(request)
            )
        headers = {
            "Docker-Content-Digest": stored.digest,
            "ETag": f'"{stored.digest}"',
            "Content-Length": str(stored.size),
        }
        return Response(
            None if head else stored.content,
            status_code=200,
            headers=headers,
            media_type=stored.media_type,
        )

    async def tags(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        limit, last = self._page(request)
        tags = await self.registry.manifests.tags(name, None if limit is None else limit + 1, last)
        return _page_response({"name": name, "tags": tags}, "tags", limit, f"/v2/{name}/tags/list")

    async def catalog(self, request: Request) -> Response:
        limit, last = self._page(request)
        if limit is None:
            # Unlike a repository's tags, the catalog is paged even when no n is asked for.
            limit = self.registry.settings.limits.page_max_entries
        names = await self.registry.repositories.catalog(limit + 1, last)
        return _page_response({"repositories": names}, "repositories", limit, "/v2/_catalog")

    async def referrers(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        artifact_type = request.query_params.get("artifactType") or None
        descriptors = await self.registry.manifests.referrers(
            name, request.path_params["digest"], artifact_type
        )
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else None
        return Response(orjson.dumps(index), headers=headers, media_type=mt.OCI_INDEX)

    def _page(self, request: Request) -> tuple[int | None, str | None]:
        """``n`` (capped at the configured page size) and ``last`` of a paginated request."""
        query = request.query_params
        last = query.get("last") or None
        raw = query.get("n")
        if raw is None or raw == "":
            return None, last
        if not (raw.isascii() and raw.isdigit()):
            raise PaginationInvalid("n must be a non-negative integer", detail={"n": raw[:20]})
        return min(int(raw), self.registry.settings.limits.page_max_entries), last


def _actor(request: Request) -> Actor:
    """The caller the gate let through, from the client's address, for the audit log."""
    return Actor(
        request.scope.get(CALLER_NAME, "anonymous"),
        request.client.host if request.client else "",
    )


def _page_response(body: dict[str, object], key: str, limit: int | None, path: str) -> Response:
    """The page, trimmed to ``limit``, with a ``Link`` to the next one if there is more."""
    items = body[key]
    assert isinstance(items, list)
    headers: dict[str, str] = {}
    if limit is not None and len(items) > limit:
        del items[limit:]
        if items:
            query = urlencode({"n": limit, "last": items[-1]})
            headers["Link"] = f'<{path}?{query}>; rel="next"'
    return Response(orjson.dumps(body), headers=headers, media_type="application/json")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"manifest is larger than {limit} bytes", detail={"limit": limit})
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise TooLarge(f"manifest is larger than {limit} bytes", detail={"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)
