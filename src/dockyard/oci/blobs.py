"""Blob endpoints: pull (HEAD/GET with ranges), delete, and the upload workflows."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dockyard.blobs.digests import Digest
from dockyard.errors import DigestInvalid
from dockyard.oci.names import repository_name
from dockyard.oci.ranges import parse_content_range, parse_range
from dockyard.registry import Registry


class BlobEndpoints:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def blob(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        digest = str(Digest.parse(request.path_params["digest"]))
        if request.method == "DELETE":
            await self.registry.blobs.unlink(name, digest)
            return Response(status_code=202, headers={"Docker-Content-Digest": digest})
        size = await self.registry.blobs.size(name, digest)
        headers = {
            "Docker-Content-Digest": digest,
            "ETag": f'"{digest}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        span = parse_range(request.headers.get("range"), size)
        start, end = span if span else (0, size)
        status = 200
        if span:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        location = await self.registry.blobs.redirect(digest)
        if location is not None:
            # The client repeats its Range header at the object store.
            return Response(
                status_code=307, headers={"Location": location, "Docker-Content-Digest": digest}
            )
        return StreamingResponse(
            await self.registry.blobs.open(digest, start, end), status_code=status, headers=headers
        )

    async def start_upload(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        query = request.query_params
        mount = query.get("mount")
        if mount is not None:
            digest = str(Digest.parse(mount))
            source = query.get("from")
            # The gate marks a mount from a repository the caller may not pull from.
            if source and not request.scope.get("dockyard.mount_denied"):
                source = repository_name(request, self.registry.settings, source)
                if await self.registry.blobs.mount(name, digest, source):
                    return _created(name, digest)
        elif "digest" in query:
            digest = str(_digest_param(request))
            declared = request.headers.get("content-length")
            await self.registry.uploads.upload_whole(
                name,
                Digest.parse(digest),
                request.stream(),
                int(declared) if declared and declared.isdigit() else None,
            )
            return _created(name, digest)
        status = await self.registry.uploads.start(name)
        return _upload_response(202, name, status.id, status.size)

    async def upload(self, request: Request) -> Response:
        name = repository_name(request, self.registry.settings)
        upload_id = request.path_params["upload_id"]
        uploads = self.registry.uploads
        if request.method == "GET":
            status = await uploads.status(name, upload_id)
            return _upload_response(204, name, upload_id, status.size)
        if request.method == "DELETE":
            await uploads.cancel(name, upload_id)
            return Response(status_code=204)
        if request.method == "PUT":
            digest = _digest_param(request)
            await uploads.complete(name, upload_id, digest, request.stream())
            return _created(name, str(digest))
        # PATCH: a chunk, or the whole stream when there is no Content-Range.
        start = length = None
        content_range = request.headers.get("content-range")
        if content_range:
            start, length = parse_content_range(content_range)
        declared = request.headers.get("content-length")
        status = await uploads.append(
            name,
            upload_id,
            request.stream(),
            start=start,
            length=length,
            declared_length=int(declared)
            if declared and declared.isascii() and declared.isdigit()
            else None,
        )
        return _upload_response(202, name, upload_id, status.size)


def _digest_param(request: Request) -> Digest:
    value = request.query_params.get("digest")
    if not value:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    return Digest.parse(value)


def _created(name: str, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


def _upload_response(status_code: int, name: str, upload_id: str, size: int) -> Response:
    return Response(
        status_code=status_code,
        headers={
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": f"0-{max(size - 1, 0)}",
            "Docker-Upload-UUID": upload_id,
            "Content-Length": "0",
        },
    )
