"""Server memory while a large blob streams through: peak RSS growth during push and pull."""

from __future__ import annotations

from bench.errors import BenchError
from bench.payload import MiB
from bench.plan import Plan, size_label
from bench.rows import Figures, RowSpec, Workload
from bench.rss import RssSampler
from bench.session import Session
from bench.timing import Stopwatch

_REPOSITORY = "bench/memory"
_BUFFER_BYTES = 4 * MiB


def _rows(plan: Plan) -> list[RowSpec]:
    size = size_label(plan.memory_blob)
    return [
        RowSpec("rss-push", f"Server peak RSS growth, {size} blob push", "MB", "lower", 1.0),
        RowSpec("rss-pull", f"Server peak RSS growth, {size} blob pull", "MB", "lower", 1.0),
    ]


def _run(session: Session) -> Figures:
    blob = session.source.blob(session.plan.memory_blob, 7_000_000)
    pid = session.target.pid
    with session.client(_REPOSITORY) as client:
        session.say(f"memory: pushing {size_label(blob.size)} while sampling RSS of pid {pid}")
        with RssSampler(pid) as push_rss, Stopwatch() as push_watch:
            client.push(_REPOSITORY, blob, session.source)
        session.say(
            f"  push {push_watch.throughput(blob.size):.0f} MB/s, "
            f"RSS {push_rss.baseline / 1e6:.0f} MB -> peak {push_rss.peak / 1e6:.0f} MB"
        )
        session.say(f"memory: pulling {size_label(blob.size)} (hashed by the client)")
        with RssSampler(pid) as pull_rss, Stopwatch() as pull_watch:
            client.pull(_REPOSITORY, blob, memoryview(bytearray(_BUFFER_BYTES)), verify=True)
        session.say(
            f"  pull {pull_watch.throughput(blob.size):.0f} MB/s, "
            f"RSS {pull_rss.baseline / 1e6:.0f} MB -> peak {pull_rss.peak / 1e6:.0f} MB"
        )
    if min(push_rss.samples, pull_rss.samples) < 10:
        raise BenchError("too few RSS samples to trust the peak")
    return {"rss-push": push_rss.growth / 1e6, "rss-pull": pull_rss.growth / 1e6}


MEMORY = Workload(
    "memory",
    "server peak RSS growth while a 2 GiB blob is pushed, then pulled (psutil, with children)",
    _rows,
    _run,
)
