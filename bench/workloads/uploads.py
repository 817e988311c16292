"""Blob upload throughput: monolithic (POST + PUT ?digest=) and chunked (POST, PATCH…, PUT)."""

from __future__ import annotations

from bench.errors import BenchError
from bench.payload import Blob
from bench.plan import Plan, size_label
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session
from bench.timing import Stopwatch

_REPOSITORY = "bench/uploads"


def _monolithic_row(size: int, count: int) -> RowSpec:
    times = f"{count} x " if count > 1 else ""
    return RowSpec(
        f"upload-{size_label(size)}",
        f"Monolithic blob upload, {times}{size_label(size)}",
        "MB/s",
        "higher",
    )


def _monolithic(session: Session, size: int, count: int, stream_base: int) -> Figures:
    blobs = [session.source.blob(size, stream_base + i) for i in range(count)]
    session.say(f"monolithic upload: {count} x {size_label(size)}")
    with session.client(_REPOSITORY) as client, Stopwatch() as watch:
        for blob in blobs:
            client.push(_REPOSITORY, blob, session.source)
    _check_stored(session, blobs)
    rate = watch.throughput(size * count)
    session.say(f"  {rate:.1f} MB/s ({watch.seconds:.2f} s, {watch.client_cpu})")
    return {_monolithic_row(size, count).key: rate}


def _check_stored(session: Session, blobs: list[Blob]) -> None:
    """HEAD every pushed blob (not timed): it must exist with its size."""
    with session.client(_REPOSITORY) as client:
        for blob in blobs:
            length = client.head_blob(_REPOSITORY, blob.digest)
            if length != blob.size:
                raise BenchError(f"{blob.digest} is stored with {length} bytes, not {blob.size}")


def _chunked_row(plan: Plan) -> RowSpec:
    return RowSpec(
        "upload-chunked",
        f"Chunked blob upload, {size_label(plan.chunked_blob)} in {size_label(plan.chunk)} PATCHes",
        "MB/s",
        "higher",
    )


def _chunked(session: Session) -> Figures:
    plan = session.plan
    blob = session.source.blob(plan.chunked_blob, 4_000_000)
    session.say(f"chunked upload: {size_label(blob.size)} in {size_label(plan.chunk)} chunks")
    with session.client(_REPOSITORY) as client, Stopwatch() as watch:
        client.push_chunked(_REPOSITORY, blob, session.source, plan.chunk)
    _check_stored(session, [blob])
    rate = watch.throughput(blob.size)
    session.say(f"  {rate:.1f} MB/s ({watch.seconds:.2f} s, {watch.client_cpu})")
    return {_chunked_row(plan).key: rate}


UPLOAD_SMALL = Workload(
    "upload-small",
    "monolithic upload of many 1 MiB blobs, aggregate MB/s",
    lambda plan: [_monolithic_row(plan.small_blob, plan.small_count)],
    lambda session: _monolithic(
        session, session.plan.small_blob, session.plan.small_count, 1_000_000
    ),
)
UPLOAD_MEDIUM = Workload(
    "upload-medium",
    "monolithic upload of 64 MiB blobs",
    lambda plan: [_monolithic_row(plan.medium_blob, plan.medium_count)],
    lambda session: _monolithic(
        session, session.plan.medium_blob, session.plan.medium_count, 2_000_000
    ),
)
UPLOAD_LARGE = Workload(
    "upload-large",
    "monolithic upload of 512 MiB blobs (128 MiB with --quick)",
    lambda plan: [_monolithic_row(plan.large_blob, plan.large_count)],
    lambda session: _monolithic(
        session, session.plan.large_blob, session.plan.large_count, 3_000_000
    ),
)
UPLOAD_CHUNKED = Workload(
    "upload-chunked",
    "chunked upload, 256 MiB in 8 MiB PATCHes",
    lambda plan: [_chunked_row(plan)],
    _chunked,
)
