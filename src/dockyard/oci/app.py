"""The data plane as an ASGI app: the routes of the OCI Distribution Specification."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.oci.access import PULL, PULL_DELETE, PULL_PUSH_DELETE, PUSH, Gate
from dockyard.oci.blobs import BlobEndpoints
from dockyard.oci.manifests import ManifestEndpoints
from dockyard.oci.responses import EXCEPTION_HANDLERS as DOMAIN_HANDLERS
from dockyard.oci.responses import on_http_error
from dockyard.registry import Registry


async def api_base(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


def routes(registry: Registry) -> list[Route]:
    blobs = BlobEndpoints(registry)
    manifests = ManifestEndpoints(registry)
    gate = Gate(registry)
    guard = gate.guard
    name = "/v2/{name:path}"
    return [
        Route("/v2/", gate.authenticated(api_base), methods=["GET"]),
        Route("/v2/_catalog", gate.admin(manifests.catalog), methods=["GET"]),
        Route(f"{name}/tags/list", guard(manifests.tags, PULL), methods=["GET"]),
        Route(
            f"{name}/manifests/{{reference}}",
            guard(manifests.manifest, PULL_PUSH_DELETE),
            methods=["GET", "HEAD", "PUT", "DELETE"],
        ),
        Route(f"{name}/blobs/uploads/", guard(blobs.start_upload, PUSH), methods=["POST"]),
        Route(f"{name}/blobs/uploads", guard(blobs.start_upload, PUSH), methods=["POST"]),
        Route(
            f"{name}/blobs/uploads/{{upload_id}}",
            guard(blobs.upload, PUSH),
            methods=["GET", "PATCH", "PUT", "DELETE"],
        ),
        Route(
            f"{name}/blobs/{{digest}}",
            guard(blobs.blob, PULL_DELETE),
            methods=["GET", "HEAD", "DELETE"],
        ),
        Route(f"{name}/referrers/{{digest}}", guard(manifests.referrers, PULL), methods=["GET"]),
    ]


EXCEPTION_HANDLERS = {**DOMAIN_HANDLERS, HTTPException: on_http_error}
