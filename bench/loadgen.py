"""A fixed number of small requests over N keep-alive connections, each status checked.

wrk drives the duration-bound rows, but it cannot send an exact set of distinct
requests and report their rate (its clock always runs for the whole ``-d``), so
the manifest PUT row and the seeding of tags use this instead: prebuilt request
bytes, asyncio streams, no HTTP library in the way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bench.errors import RequestFailed

_REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PreparedRequest:
    """One request as bytes on the wire, and the status it must get."""

    method: str
    path: str
    wire: bytes
    expect: int


@dataclass(frozen=True)
class BurstResult:
    """How long a burst took, and each request's latency in seconds."""

    seconds: float
    latencies: list[float]
    client_cpu_seconds: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def prepare(
    method: str,
    path: str,
    host: str,
    expect: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> PreparedRequest:
    """Build the bytes of an HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return PreparedRequest(method, path, wire, expect)


def burst(
    host: str, port: int, requests: Sequence[PreparedRequest], connections: int
) -> BurstResult:
    """Send every request once, ``connections`` at a time; the first failure aborts all."""
    cpu_before = time.process_time()
    started = time.perf_counter()
    try:
        latencies = asyncio.run(_burst(host, port, requests, connections))
    except ExceptionGroup as failures:
        # The first failed request is the row's error; the others were cancelled after it.
        raise failures.exceptions[0] from None
    seconds = time.perf_counter() - started
    return BurstResult(seconds, latencies, time.process_time() - cpu_before)


async def _burst(
    host: str, port: int, requests: Sequence[PreparedRequest], connections: int
) -> list[float]:
    pending = iter(requests)
    latencies: list[float] = []
    async with asyncio.TaskGroup() as group:
        for _ in range(min(connections, len(requests))):
            group.create_task(_connection(host, port, pending, latencies))
    return latencies


async def _connection(
    host: str, port: int, pending: Iterator[PreparedRequest], latencies: list[float]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        for request in pending:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(_REQUEST_TIMEOUT_S):
                    writer.write(request.wire)
                    status, keep_alive, body = await _read_response(reader, request.method)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                raise RequestFailed(
                    request.method, request.path, "no answer", repr(error)
                ) from error
            latencies.append(time.perf_counter() - started)
            if status != request.expect:
                detail = f"expected {request.expect}. " + body.decode(errors="replace")
                raise RequestFailed(request.method, request.path, status, detail)
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bool, bytes]:
    """Status, whether the connection stays open, and the body."""
    status_line = await reader.readuntil(b"\r\n")
    version, status_text = status_line.decode("latin-1").split(" ", 2)[:2]
    status = int(status_text)
    headers: dict[str, str] = {}
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, keep_alive, b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return status, keep_alive, await _read_chunked(reader)
    if "content-length" in headers:
        return status, keep_alive, await reader.readexactly(int(headers["content-length"]))
    return status, False, await reader.read()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
