"""Blob download throughput: one client, then several at once, all pulling the same blob."""

from __future__ import annotations

import threading

from bench.errors import BenchError
from bench.payload import Blob, MiB
from bench.plan import Plan, size_label
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session
from bench.timing import Stopwatch

_REPOSITORY = "bench/downloads"
_BUFFER_BYTES = 4 * MiB


def _pushed_blob(session: Session) -> Blob:
    """Push the download blob once and pull it back hashed (not timed): it is what we sent."""

    def push() -> Blob:
        blob = session.source.blob(session.plan.download_blob, 5_000_000)
        session.say(f"pushing the {size_label(blob.size)} download blob (not timed)")
        with session.client(_REPOSITORY) as client:
            client.push(_REPOSITORY, blob, session.source)
            client.pull(_REPOSITORY, blob, memoryview(bytearray(_BUFFER_BYTES)), verify=True)
        return blob

    return session.once("download-blob", push)


def _single_row(plan: Plan) -> RowSpec:
    return RowSpec(
        "download-1",
        f"Blob download, 1 client ({plan.download_rounds} x {size_label(plan.download_blob)})",
        "MB/s",
        "higher",
    )


def _single(session: Session) -> Figures:
    blob = _pushed_blob(session)
    rounds = session.plan.download_rounds
    session.say(f"download, 1 client: {rounds} x {size_label(blob.size)}")
    buffer = memoryview(bytearray(_BUFFER_BYTES))
    with session.client(_REPOSITORY) as client, Stopwatch() as watch:
        for _ in range(rounds):
            client.pull(_REPOSITORY, blob, buffer)
    rate = watch.throughput(blob.size * rounds)
    session.say(f"  {rate:.1f} MB/s ({watch.seconds:.2f} s, {watch.client_cpu})")
    return {_single_row(session.plan).key: rate}


def _concurrent_row(plan: Plan) -> RowSpec:
    return RowSpec(
        "download-n",
        f"Blob download, {plan.download_clients} concurrent clients "
        f"({plan.download_rounds_each} x {size_label(plan.download_blob)} each)",
        "MB/s",
        "higher",
    )


def _concurrent(session: Session) -> Figures:
    blob = _pushed_blob(session)
    plan = session.plan
    session.say(
        f"download, {plan.download_clients} clients: "
        f"{plan.download_rounds_each} x {size_label(blob.size)} each"
    )
    start = threading.Barrier(plan.download_clients + 1)
    failures: list[BaseException] = []

    def pull_rounds() -> None:
        buffer = memoryview(bytearray(_BUFFER_BYTES))
        with session.client(_REPOSITORY) as client:
            start.wait()
            try:
                for _ in range(plan.download_rounds_each):
                    client.pull(_REPOSITORY, blob, buffer)
            except BenchError as error:
                failures.append(error)

    threads = [threading.Thread(target=pull_rounds) for _ in range(plan.download_clients)]
    for thread in threads:
        thread.start()
    with Stopwatch() as watch:
        start.wait()
        for thread in threads:
            thread.join()
    if failures:
        raise BenchError(f"{len(failures)} of {len(threads)} clients failed: {failures[0]}")
    total = blob.size * plan.download_rounds_each * plan.download_clients
    rate = watch.throughput(total)
    session.say(f"  {rate:.1f} MB/s ({watch.seconds:.2f} s, {watch.client_cpu})")
    return {_concurrent_row(plan).key: rate}


DOWNLOAD_SINGLE = Workload(
    "download-1",
    "blob download MB/s, one client",
    lambda plan: [_single_row(plan)],
    _single,
)
DOWNLOAD_CONCURRENT = Workload(
    "download-8",
    "blob download MB/s, 8 concurrent clients",
    lambda plan: [_concurrent_row(plan)],
    _concurrent,
)
