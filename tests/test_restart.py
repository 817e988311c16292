"""An upload session outlives the server process that started it."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.servers import ADMIN, DockyardServer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_chunked_upload_resumes_after_restart(
    tmp_path: Path, sig: int, server_env: dict[str, str]
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    first, rest = data[: 2 * 1024 * 1024], data[2 * 1024 * 1024 :]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    server = DockyardServer(tmp_path / "data", env=server_env).start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN) as client:
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
        with httpx.Client(base_url=server.url, auth=ADMIN) as client:
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


def test_chunks_of_one_upload_can_go_to_different_processes(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    """Two server processes on one data dir, as two workers or replicas are: each takes
    a chunk of the same upload in turn and the result verifies."""
    data = os.urandom(5 * 1024 * 1024 + 3)
    chunks = [data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    servers = [
        DockyardServer(tmp_path / "data", env=server_env).start(),
        DockyardServer(tmp_path / "data", env=server_env).start(),
    ]
    try:
        clients = [httpx.Client(base_url=server.url, auth=ADMIN) for server in servers]
        location = clients[0].post("/v2/lib/shared/blobs/uploads/").headers["Location"]
        offset = 0
        for number, chunk in enumerate(chunks):
            answer = clients[number % 2].patch(
                location,
                content=chunk,
                headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
            )
            assert answer.status_code == 202, answer.text
            offset += len(chunk)
        assert clients[1].get(location).headers["Range"] == f"0-{len(data) - 1}"
        wrong = clients[0].put(location, params={"digest": "sha256:" + "0" * 64})
        assert wrong.status_code == 400
        assert wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
        # The failed PUT ended the session; the same bytes uploaded again complete.
        location = clients[1].post("/v2/lib/shared/blobs/uploads/").headers["Location"]
        offset = 0
        for number, chunk in enumerate(chunks):
            assert (
                clients[number % 2]
                .patch(
                    location,
                    content=chunk,
                    headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
                )
                .status_code
                == 202
            )
            offset += len(chunk)
        done = clients[0].put(location, params={"digest": digest})
        assert done.status_code == 201, done.text
        for client in clients:
            assert client.get(f"/v2/lib/shared/blobs/{digest}").content == data
            client.close()
    finally:
        for server in servers:
            server.stop()
