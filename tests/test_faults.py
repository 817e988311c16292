"""A client that goes away mid-body leaves nothing behind and breaks nothing."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import httpx

from tests.servers import ADMIN, DockyardServer


def _send_half(
    server: DockyardServer, method: str, path: str, declared: int, body: bytes, extra: str = ""
) -> None:
    """Announce ``declared`` bytes, send ``body`` (fewer), and hang up."""
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Content-Length: {declared}\r\nContent-Type: application/octet-stream\r\n"
            f"{extra}\r\n".encode()
            + body
        )


def test_truncated_bodies_leave_nothing_partial(tmp_path: Path, server_env: dict[str, str]) -> None:
    data = os.urandom(6 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    server = DockyardServer(tmp_path / "data", env=server_env).start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN) as client:
            # A monolithic upload cut short: the blob never becomes visible.
            _send_half(
                server,
                "POST",
                f"/v2/lib/cut/blobs/uploads/?digest={digest}",
                len(data),
                data[: len(data) // 2],
            )
            # A chunk cut short: the session stays where it was.
            location = client.post("/v2/lib/cut/blobs/uploads/").headers["Location"]
            first = data[: 1024 * 1024]
            assert client.patch(location, content=first).status_code == 202
            _send_half(
                server,
                "PATCH",
                location,
                len(data) - len(first),
                data[len(first) : len(first) + 3 * 1024 * 1024],
            )
            assert client.get(location).headers["Range"] == f"0-{len(first) - 1}"
            assert client.head(f"/v2/lib/cut/blobs/{digest}").status_code == 404
            # The same session then completes with the rest, and verifies, once the
            # server has seen the hang-up and let go of the session (416 until then).
            deadline = time.monotonic() + 10
            resumed = client.patch(location, content=data[len(first) :])
            while resumed.status_code == 416 and time.monotonic() < deadline:
                time.sleep(0.02)
                resumed = client.patch(location, content=data[len(first) :])
            assert resumed.status_code == 202, resumed.text
            done = client.put(location, params={"digest": digest})
            assert done.status_code == 201, done.text
            assert client.get(f"/v2/lib/cut/blobs/{digest}").content == data
        # No partial upload file is left behind by the cut monolithic upload; the server
        # sees the hang-up on its own time, so poll for it with a deadline.
        deadline = time.monotonic() + 10
        while server.stored("uploads") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.stored("uploads") == []
    finally:
        server.stop()
