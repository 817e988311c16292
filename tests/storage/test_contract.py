"""The BlobStore contract, run against every driver: the filesystem and S3 (a real
S3-speaking server on 127.0.0.1).

The S3 store's parts are 5 MiB here, S3's smallest, so that uploads of a few
MiB already cross part boundaries.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import httpx
import pytest

from dockyard.errors import Unavailable
from dockyard.storage import BlobStore, FilesystemBlobStore, UploadDataLost
from dockyard.storage.s3 import S3BlobStore
from tests.s3_server import S3Server

MiB = 1024 * 1024
PART = 5 * MiB

StoreFactory = Callable[[], BlobStore]


@pytest.fixture(params=["filesystem", "s3"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Makes stores over the same storage, as replicas of one registry would have."""
    made: list[BlobStore] = []
    if request.param == "filesystem":

        def make() -> BlobStore:
            made.append(FilesystemBlobStore(tmp_path / "blobs", fsync=False))
            return made[-1]

    else:
        server: S3Server = request.getfixturevalue("s3_server")
        settings = server.settings()

        def make() -> BlobStore:
            made.append(S3BlobStore(settings))
            return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def store(stores: StoreFactory) -> BlobStore:
    return stores()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def pieces(data: bytes, size: int = MiB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def failing(data: bytes, after: int) -> AsyncIterator[bytes]:
    """Yields ``data`` in 1 MiB pieces, then fails once ``after`` bytes went out."""
    sent = 0
    async for piece in pieces(data):
        if sent >= after:
            raise ConnectionResetError("the client went away")
        yield piece
        sent += len(piece)
    raise ConnectionResetError("the client went away at the end")


async def read_all(chunks: AsyncIterator[bytes] | None) -> bytes:
    assert chunks is not None
    return b"".join([chunk async for chunk in chunks])


async def upload(store: BlobStore, upload_id: str, requests: Iterable[bytes]) -> int:
    await store.start_upload(upload_id)
    size = 0
    for body in requests:
        size = await store.write_upload(upload_id, size, pieces(body))
    return size


async def test_put_stat_open_delete(store: BlobStore) -> None:
    data = os.urandom(3000)
    digest = digest_of(data)
    assert await store.stat(digest) is None
    assert await store.open(digest) is None
    await store.put(digest, data)
    assert await store.stat(digest) == 3000
    assert await read_all(await store.open(digest)) == data
    assert await read_all(await store.open(digest, 100, 200)) == data[100:200]
    assert await read_all(await store.open(digest, 2990)) == data[2990:]
    await store.delete(digest)
    assert await store.stat(digest) is None
    await store.delete(digest)  # deleting what is gone is no error


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param([b""], id="empty"),
        pytest.param([b"x" * 10], id="tiny"),
        pytest.param([os.urandom(PART)], id="exactly-one-part"),
        pytest.param([os.urandom(2 * PART + 17)], id="two-parts-and-a-tail"),
        pytest.param([os.urandom(3 * MiB), os.urandom(3 * MiB), os.urandom(7)], id="chunks"),
        pytest.param([os.urandom(100)] * 3 + [os.urandom(PART)], id="small-then-large"),
    ],
)
async def test_upload_seal_read_commit(store: BlobStore, requests: list[bytes]) -> None:
    data = b"".join(requests)
    size = await upload(store, "a" * 32, requests)
    assert size == len(data)
    await store.seal_upload("a" * 32, size)
    assert await read_all(store.read_upload("a" * 32, size)) == data
    digest = digest_of(data)
    await store.commit_upload("a" * 32, digest, size)
    assert await store.stat(digest) == len(data)
    assert await read_all(await store.open(digest)) == data


async def test_a_failed_write_leaves_the_upload_where_it_was(store: BlobStore) -> None:
    first, lost, second = os.urandom(3 * MiB), os.urandom(9 * MiB), os.urandom(4 * MiB)
    size = await upload(store, "b" * 32, [first])
    # The client dies after 8 MiB: a whole part went out past the committed size.
    with pytest.raises(ConnectionResetError):
        await store.write_upload("b" * 32, size, failing(lost, after=8 * MiB))
    size = await store.write_upload("b" * 32, size, pieces(second))
    assert size == len(first) + len(second)
    await store.seal_upload("b" * 32, size)
    assert await read_all(store.read_upload("b" * 32, size)) == first + second


async def test_another_store_continues_an_upload(stores: StoreFactory) -> None:
    """An upload started by one replica is continued and finished by another."""
    a, b = stores(), stores()
    one, two = os.urandom(PART + 3), os.urandom(2 * MiB)
    size = await upload(a, "c" * 32, [one])
    size = await b.write_upload("c" * 32, size, pieces(two))
    await b.seal_upload("c" * 32, size)
    digest = digest_of(one + two)
    await b.commit_upload("c" * 32, digest, size)
    assert await read_all(await a.open(digest)) == one + two


async def test_commit_of_a_blob_already_stored_keeps_it(store: BlobStore) -> None:
    data = os.urandom(2 * MiB)
    digest = digest_of(data)
    await store.put(digest, data)
    size = await upload(store, "d" * 32, [data])
    await store.seal_upload("d" * 32, size)
    await store.commit_upload("d" * 32, digest, size)
    assert await read_all(await store.open(digest)) == data


async def test_sealing_twice_is_harmless(store: BlobStore) -> None:
    data = os.urandom(PART + MiB)
    size = await upload(store, "e" * 32, [data])
    await store.seal_upload("e" * 32, size)
    await store.seal_upload("e" * 32, size)
    assert await read_all(store.read_upload("e" * 32, size)) == data


async def test_memory_stays_flat_while_a_large_upload_streams(store: BlobStore) -> None:
    """No driver gathers a blob in memory: 40 MiB go through in well under 40 MiB."""
    total = 40 * MiB
    piece = os.urandom(MiB)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(total // MiB):
            yield piece

    await store.start_upload("f" * 32)
    await store.check()  # the SDK loads its models on first use, once per process
    tracemalloc.start()
    try:
        size = await store.write_upload("f" * 32, 0, body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total
    assert peak < 3 * PART, f"peak {peak / MiB:.1f} MiB"
    await store.seal_upload("f" * 32, size)
    digest = digest_of(piece * (total // MiB))
    await store.commit_upload("f" * 32, digest, size)
    assert await store.stat(digest) == total


async def test_delete_upload_drops_everything(store: BlobStore) -> None:
    await upload(store, "9" * 32, [os.urandom(PART + 10)])
    await store.delete_upload("9" * 32)
    await store.delete_upload("9" * 32)
    # A new session under the same id starts from nothing.
    size = await upload(store, "9" * 32, [b"fresh"])
    await store.seal_upload("9" * 32, size)
    assert await read_all(store.read_upload("9" * 32, size)) == b"fresh"


async def test_check_passes_on_a_working_store(store: BlobStore) -> None:
    await store.check()


# What only the S3 driver has to show.


async def test_s3_keeps_nothing_of_a_committed_or_cancelled_upload(s3_server: S3Server) -> None:
    settings = s3_server.settings(prefix="registry-one/")
    store = S3BlobStore(settings)
    try:
        data = os.urandom(PART * 2 + 5)
        size = await upload(store, "1" * 32, [data[:PART], data[PART:]])
        assert s3_server.multipart_uploads(settings.bucket) == [
            "registry-one/uploads/" + "1" * 32 + "/data"
        ]
        await store.seal_upload("1" * 32, size)
        await store.commit_upload("1" * 32, digest_of(data), size)
        await upload(store, "2" * 32, [os.urandom(PART + 1)])
        await store.delete_upload("2" * 32)
        digest = digest_of(data)
        assert s3_server.keys(settings.bucket) == [
            f"registry-one/blobs/sha256/{digest[7:9]}/{digest[7:]}"
        ]
        assert s3_server.multipart_uploads(settings.bucket) == []
    finally:
        await store.close()


async def test_s3_presigned_url_serves_the_blob(s3_server: S3Server) -> None:
    store = S3BlobStore(s3_server.settings())
    try:
        data = os.urandom(5000)
        digest = digest_of(data)
        await store.put(digest, data)
        url = await store.url(digest, 60)
        assert url is not None
        async with httpx.AsyncClient() as client:
            whole = await client.get(url)
            part = await client.get(url, headers={"Range": "bytes=10-19"})
        assert whole.status_code == 200
        assert whole.content == data
        assert part.status_code == 206
        assert part.content == data[10:20]
    finally:
        await store.close()


async def test_s3_upload_whose_tail_is_gone_must_start_again(s3_server: S3Server) -> None:
    settings = s3_server.settings()
    store = S3BlobStore(settings)
    try:
        size = await upload(store, "3" * 32, [b"abc"])
        s3_server.client().delete_object(  # type: ignore[attr-defined]
            Bucket=settings.bucket, Key=f"uploads/{'3' * 32}/tail/{size}"
        )
        with pytest.raises(UploadDataLost):
            await store.write_upload("3" * 32, size, pieces(b"more"))
        with pytest.raises(UploadDataLost):
            await store.seal_upload("3" * 32, size)
    finally:
        await store.close()


async def test_s3_down_is_unavailable_not_a_crash(s3_server: S3Server) -> None:
    store = S3BlobStore(s3_server.settings(endpoint="http://127.0.0.1:9", bucket="gone"))
    try:
        with pytest.raises(Unavailable):
            await store.stat(digest_of(b"x"))
        with pytest.raises(Unavailable):
            await store.check()
    finally:
        await store.close()


async def test_s3_missing_bucket_fails_the_check(s3_server: S3Server) -> None:
    store = S3BlobStore(s3_server.settings(bucket="no-such-bucket-here"))
    try:
        with pytest.raises(Unavailable):
            await store.check()
    finally:
        await store.close()
