"""Blobs in an S3-compatible object store, through aiobotocore.

Keys, under the configured prefix:

- ``blobs/<algorithm>/<first two hex>/<hex>``: a blob, written whole by a copy
  or a single PUT, so a reader sees all of it or nothing;
- ``uploads/<id>/data``: the multipart upload that gathers an upload session;
- ``uploads/<id>/tail/<end>``: the bytes of the session after its last whole
  part, when the session holds ``end`` bytes.

Parts have one fixed size (``part_size``), so the part that holds any offset
follows from the offset alone: part *n* holds bytes ``[(n-1)·size, n·size)``.
The state of an upload of ``offset`` bytes is therefore parts 1 to
``offset // size`` plus the tail ``tail/<offset>``, whatever a failed write
stored beyond them; nothing about it lives in this process, and any replica
continues a session that another one started. A write reads that tail (less
than one part), fills whole parts and uploads each while it reads the next,
and stores what is left as the new tail: memory stays at about two parts per
write, whatever the size of the blob.

Sealing uploads the tail as the last part and completes the multipart upload;
a session smaller than one part never starts a multipart upload at all, and
its tail is the whole content. Committing copies the sealed object to the
blob's key inside the store (S3 cannot rename), then drops the session's keys.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.errors import Unavailable
from dockyard.settings import S3Settings
from dockyard.storage.base import UploadDataLost

READ_CHUNK = 1024 * 1024
# One CopyObject copies at most 5 GiB; larger blobs are copied part by part.
_COPY_LIMIT = 5 * 1024**3
_COPY_PART = 1024**3
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
# What a store that is down, overloaded or misconfigured raises: the request
# gets 503 and is retried by the client, never a 500.
_FAILURES = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def _unavailable(exc: BaseException) -> Unavailable:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code')}: {error.get('Message')}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return Unavailable(f"the object store failed: {reason}")


class _Client:
    """The aiobotocore client, with its failures turned into ``Unavailable``
    (missing keys stay ``ClientError``s for the driver to read)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._client, operation)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except ClientError as exc:
                if _missing(exc):
                    raise
                raise _unavailable(exc) from exc
            except _FAILURES as exc:
                raise _unavailable(exc) from exc

        return call


class S3BlobStore:
    def __init__(self, settings: S3Settings) -> None:
        if not settings.bucket:
            raise ValueError("storage.s3.bucket must be set for the s3 storage driver")
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.part_size = settings.part_size
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()
        # upload id -> multipart upload id: fixed for the session's life once created.
        self._multipart_ids: dict[str, str] = {}

    async def client(self) -> Any:
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    self._client = await self._connect()
        return self._client

    async def _connect(self) -> Any:
        s = self.settings
        config = AioConfig(
            s3={"addressing_style": s.addressing_style},
            signature_version="s3v4",
            max_pool_connections=s.max_connections,
            retries={"max_attempts": 4, "mode": "standard"},
            # Content is verified against its digest by dockyard; the SDK's own
            # CRC of every part would cost CPU and trips some S3 implementations.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        verify: bool | str = s.ca_bundle or s.verify_tls
        credentials: dict[str, str] = {}
        if s.access_key:
            credentials = {
                "aws_access_key_id": s.access_key,
                "aws_secret_access_key": s.secret_key.get_secret_value(),
            }
        stack = contextlib.AsyncExitStack()
        raw = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=s.region,
                endpoint_url=s.endpoint or None,
                verify=verify,
                config=config,
                **credentials,
            )
        )
        self._exit = stack
        return _Client(raw)

    async def close(self) -> None:
        if self._exit is not None:
            await self._exit.aclose()
        self._client = self._exit = None

    # Keys

    def _blob_key(self, digest: str) -> str:
        algorithm, encoded = digest.split(":", 1)
        return f"{self.prefix}blobs/{algorithm}/{encoded[:2]}/{encoded}"

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self.prefix}uploads/{upload_id}/"

    def _data_key(self, upload_id: str) -> str:
        return f"{self._upload_prefix(upload_id)}data"

    def _tail_key(self, upload_id: str, end: int) -> str:
        return f"{self._upload_prefix(upload_id)}tail/{end}"

    def _sealed_key(self, upload_id: str, size: int) -> str:
        """Where a sealed upload of ``size`` bytes is: the multipart object, or the tail."""
        if size >= self.part_size:
            return self._data_key(upload_id)
        return self._tail_key(upload_id, size)

    # Uploads

    async def start_upload(self, upload_id: str) -> None:
        """Nothing to prepare: the multipart upload starts with the first whole part."""

    async def write_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        client = await self.client()
        size = self.part_size
        # Bytes not yet in a part, as the pieces they came in; the part is built by
        # one join, the only copy this driver makes of them.
        pending: list[bytes | memoryview] = []
        pending_bytes = 0
        if offset % size:
            tail = await self._get_tail(upload_id, offset)
            pending, pending_bytes = [tail], len(tail)
        part_number = offset // size + 1
        position = offset
        in_flight: asyncio.Task[None] | None = None
        try:
            async for chunk in chunks:
                pending.append(chunk)
                pending_bytes += len(chunk)
                position += len(chunk)
                while pending_bytes >= size:
                    # Part n went out while part n+1 came in; one part in flight at a time.
                    if in_flight is not None:
                        await in_flight
                    part, pending, pending_bytes = _take(pending, pending_bytes, size)
                    in_flight = asyncio.create_task(
                        self._upload_part(client, upload_id, part_number, part)
                    )
                    part_number += 1
            if in_flight is not None:
                await in_flight
                in_flight = None
            if pending_bytes:
                await client.put_object(
                    Bucket=self.bucket,
                    Key=self._tail_key(upload_id, position),
                    Body=b"".join(pending),
                )
        finally:
            if in_flight is not None:
                in_flight.cancel()
                with contextlib.suppress(BaseException):
                    await in_flight
        return position

    async def _get_tail(self, upload_id: str, offset: int) -> bytes:
        key = self._tail_key(upload_id, offset)
        data = await self._get_bytes(key)
        if data is None or len(data) != offset % self.part_size:
            raise UploadDataLost(f"the upload's data past its last part is missing ({key})")
        return data

    async def _upload_part(self, client: Any, upload_id: str, number: int, data: bytes) -> None:
        multipart_id = await self._multipart_id(upload_id, create=True)
        assert multipart_id is not None
        await client.upload_part(
            Bucket=self.bucket,
            Key=self._data_key(upload_id),
            UploadId=multipart_id,
            PartNumber=number,
            Body=data,
        )

    async def _multipart_id(self, upload_id: str, *, create: bool) -> str | None:
        """The id of the session's multipart upload, looked up in the store on a miss
        (another replica may have created it), created when asked to."""
        known = self._multipart_ids.get(upload_id)
        if known is not None:
            return known
        client = await self.client()
        key = self._data_key(upload_id)
        listed = await client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        found = sorted(
            (u["Initiated"], u["UploadId"]) for u in listed.get("Uploads", []) if u["Key"] == key
        )
        if found:
            multipart_id: str = found[0][1]
        elif create:
            created = await client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType="application/octet-stream"
            )
            multipart_id = created["UploadId"]
        else:
            return None
        self._multipart_ids[upload_id] = multipart_id
        return multipart_id

    async def seal_upload(self, upload_id: str, size: int) -> None:
        whole = size // self.part_size
        if whole == 0:
            if size == 0:
                await (await self.client()).put_object(
                    Bucket=self.bucket, Key=self._tail_key(upload_id, 0), Body=b""
                )
            elif await self._stat_key(self._tail_key(upload_id, size)) != size:
                raise UploadDataLost(f"the upload's data is missing ({upload_id})")
            return
        multipart_id = await self._multipart_id(upload_id, create=False)
        if multipart_id is None:
            # Sealed before (a retried completion), or lost.
            if await self._stat_key(self._data_key(upload_id)) == size:
                return
            raise UploadDataLost(f"the upload's parts are missing ({upload_id})")
        client = await self.client()
        last = whole
        if size % self.part_size:
            last += 1
            await self._upload_part(client, upload_id, last, await self._get_tail(upload_id, size))
        parts = await self._parts(client, upload_id, multipart_id, last)
        for number, (_, part_size) in enumerate(parts[:whole], start=1):
            if part_size != self.part_size:
                raise UploadDataLost(f"part {number} of upload {upload_id} has the wrong size")
        await client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self._data_key(upload_id),
            UploadId=multipart_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": number, "ETag": etag}
                    for number, (etag, _) in enumerate(parts, start=1)
                ]
            },
        )
        self._multipart_ids.pop(upload_id, None)

    async def _parts(
        self, client: Any, upload_id: str, multipart_id: str, last: int
    ) -> list[tuple[str, int]]:
        """(ETag, size) of parts 1 to ``last``; parts past it are leftovers of failed writes."""
        found: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            page = await client.list_parts(
                Bucket=self.bucket,
                Key=self._data_key(upload_id),
                UploadId=multipart_id,
                PartNumberMarker=marker,
            )
            for part in page.get("Parts", []):
                if part["PartNumber"] <= last:
                    found[part["PartNumber"]] = (part["ETag"], part["Size"])
            if not page.get("IsTruncated"):
                break
            marker = int(page["NextPartNumberMarker"])
        missing = [n for n in range(1, last + 1) if n not in found]
        if missing:
            raise UploadDataLost(f"upload {upload_id} lacks parts {missing[:5]}")
        return [found[n] for n in range(1, last + 1)]

    async def read_upload(self, upload_id: str, size: int) -> AsyncIterator[bytes]:
        body = await self._open_key(self._sealed_key(upload_id, size), 0, size)
        if body is None:
            raise UploadDataLost(f"the sealed upload {upload_id} is missing")
        async for chunk in body:
            yield chunk

    async def commit_upload(self, upload_id: str, digest: str, size: int) -> None:
        target = self._blob_key(digest)
        if await self._stat_key(target) is None:
            source = self._sealed_key(upload_id, size)
            if size <= _COPY_LIMIT:
                await (await self.client()).copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    ContentType="application/octet-stream",
                )
            else:
                await self._copy_in_parts(source, target, size)
        await self.delete_upload(upload_id)

    async def _copy_in_parts(self, source: str, target: str, size: int) -> None:
        client = await self.client()
        created = await client.create_multipart_upload(Bucket=self.bucket, Key=target)
        multipart_id = created["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, _COPY_PART), start=1):
                end = min(start + _COPY_PART, size) - 1
                copied = await client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=multipart_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target,
                UploadId=multipart_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=multipart_id
                )
            raise

    async def delete_upload(self, upload_id: str) -> None:
        client = await self.client()
        multipart_id = await self._multipart_id(upload_id, create=False)
        if multipart_id is not None:
            with contextlib.suppress(ClientError):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._data_key(upload_id), UploadId=multipart_id
                )
            self._multipart_ids.pop(upload_id, None)
        prefix = self._upload_prefix(upload_id)
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                arguments["ContinuationToken"] = token
            page = await client.list_objects_v2(**arguments)
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                await client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
            token = page.get("NextContinuationToken")
            if not token:
                break

    # Blobs

    async def put(self, digest: str, data: bytes) -> None:
        await (await self.client()).put_object(
            Bucket=self.bucket,
            Key=self._blob_key(digest),
            Body=data,
            ContentType="application/octet-stream",
        )

    async def stat(self, digest: str) -> int | None:
        return await self._stat_key(self._blob_key(digest))

    async def open(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes] | None:
        return await self._open_key(self._blob_key(digest), start, end)

    async def url(self, digest: str, ttl_seconds: int) -> str | None:
        url: str = await (await self.client()).generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._blob_key(digest)},
            ExpiresIn=ttl_seconds,
        )
        return url

    async def delete(self, digest: str) -> None:
        await (await self.client()).delete_object(Bucket=self.bucket, Key=self._blob_key(digest))

    async def check(self) -> None:
        try:
            await (await self.client()).head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise Unavailable(f"the bucket {self.bucket!r} does not exist") from exc

    # Plumbing

    async def _stat_key(self, key: str) -> int | None:
        try:
            head = await (await self.client()).head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def _get_bytes(self, key: str) -> bytes | None:
        try:
            response = await (await self.client()).get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        try:
            async with response["Body"] as body:
                data: bytes = await body.read()
        except _FAILURES as exc:
            raise _unavailable(exc) from exc
        return data

    async def _open_key(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes] | None:
        """Start a GET of ``key`` (bytes ``start`` to ``end``) and return its body's chunks."""
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            if end is not None and end <= start:
                return _empty()
            arguments["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await (await self.client()).get_object(**arguments)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return _stream(response["Body"])


def _take(
    pending: list[bytes | memoryview], pending_bytes: int, size: int
) -> tuple[bytes, list[bytes | memoryview], int]:
    """The first ``size`` bytes of ``pending`` as one part, and what is left."""
    taken: list[bytes | memoryview] = []
    need = size
    index = 0
    while need:
        piece = pending[index]
        if len(piece) <= need:
            taken.append(piece)
            need -= len(piece)
            index += 1
        else:
            view = memoryview(piece)
            taken.append(view[:need])
            pending = [view[need:], *pending[index + 1 :]]
            index = 0
            need = 0
            return b"".join(taken), pending, pending_bytes - size
    return b"".join(taken), pending[index:], pending_bytes - size


def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code")) in _MISSING


async def _empty() -> AsyncIterator[bytes]:
    return
    yield


async def _stream(body: Any) -> AsyncIterator[bytes]:
    try:
        async with body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
    except _FAILURES as exc:
        raise _unavailable(exc) from exc
