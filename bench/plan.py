"""How big and how long: the full plan, and the quick one for a smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.payload import MiB

GiB = 1024 * MiB


@dataclass(frozen=True)
class Plan:
    """Sizes, counts, concurrency and durations of every workload."""

    small_blob: int = 1 * MiB
    small_count: int = 300
    medium_blob: int = 64 * MiB
    medium_count: int = 4
    large_blob: int = 512 * MiB
    large_count: int = 2
    chunked_blob: int = 256 * MiB
    chunk: int = 8 * MiB
    download_blob: int = 256 * MiB
    download_rounds: int = 8
    download_clients: int = 8
    download_rounds_each: int = 2
    manifests: int = 2000
    manifest_connections: int = 16
    read_connections: int = 64
    read_seconds: float = 10.0
    # Manifest GET and blob HEAD alternate anonymous and bearer-token runs, each variant
    # getting read_seconds in this many runs (workloads/paired.py).
    paired_rounds: int = 2
    tags_connections: int = 16
    tags_seconds: float = 5.0
    memory_blob: int = 2 * GiB
    wrk_threads: int = 2


FULL = Plan()

QUICK = Plan(
    small_count=50,
    medium_count=1,
    large_blob=128 * MiB,
    large_count=1,
    chunked_blob=64 * MiB,
    download_blob=64 * MiB,
    download_rounds=4,
    download_rounds_each=1,
    manifests=200,
    read_seconds=2.0,
    tags_seconds=2.0,
    memory_blob=256 * MiB,
)


# Every wrk run against a target on the S3 server lasts at least this long. Distribution's
# manifest GET on moto (several S3 requests each, which moto serves in Python threads under
# one GIL) takes over a second under 64 connections, so --quick's 1 s runs completed none.
S3_MIN_RUN_SECONDS = 2.0


def on_s3(plan: Plan) -> Plan:
    """The plan of a target whose blobs are on the S3 server: the same sizes and counts (so
    the same rows), wrk runs of at least S3_MIN_RUN_SECONDS."""
    return replace(
        plan,
        read_seconds=max(plan.read_seconds, S3_MIN_RUN_SECONDS * plan.paired_rounds),
        tags_seconds=max(plan.tags_seconds, S3_MIN_RUN_SECONDS),
    )


def size_label(size: int) -> str:
    """1 MiB, 64 MiB, 2 GiB."""
    if size % GiB == 0:
        return f"{size // GiB} GiB"
    if size % MiB == 0:
        return f"{size // MiB} MiB"
    return f"{size} B"
