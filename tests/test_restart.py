"""An upload session outlives the server process that started it."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.servers import DockyardServer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_chunked_upload_resumes_after_restart(tmp_path: Path, sig: int) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    first, rest = data[: 2 * 1024 * 1024], data[2 * 1024 * 1024 :]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    server = DockyardServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url) as client:
            started = client.post("/v2/lib/resume/blobs/uploads/")
            assert started.status_code == 202
            location = started.headers["Location"]
            chunk = client.patch(
                location,
                content=first,
                headers={
                    "Content-Range": f"0-{len(first) - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert chunk.status_code == 202
            assert chunk.headers["Range"] == f"0-{len(first) - 1}"
        server.stop(sig)
        server.start()
        with httpx.Client(base_url=server.url) as client:
            status = client.get(location)
            assert status.status_code == 204
            assert status.headers["Range"] == f"0-{len(first) - 1}"
            # A chunk that does not continue where the upload stands is refused ...
            wrong = client.patch(
                location, content=rest, headers={"Content-Range": f"0-{len(rest) - 1}"}
            )
            assert wrong.status_code == 416
            # ... and the right one, after the restart, completes the blob.
            more = client.patch(
                location,
                content=rest,
                headers={"Content-Range": f"{len(first)}-{len(data) - 1}"},
            )
            assert more.status_code == 202
            done = client.put(location, params={"digest": digest})
            assert done.status_code == 201, done.text
            pulled = client.get(f"/v2/lib/resume/blobs/{digest}")
            assert pulled.status_code == 200
            assert pulled.content == data
    finally:
        server.stop()
