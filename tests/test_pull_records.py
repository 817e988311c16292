"""Pulls are recorded by a running server within about a second, and the last ones are
written when it shuts down rather than lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.oci.helpers import push_image_over_http
from tests.servers import ADMIN, DockyardServer


def _pulls(client: httpx.Client) -> int:
    r = client.get("/api/v2.0/audit-logs", params={"operation": "pull"})
    return int(r.headers["X-Total-Count"])


def test_pulls_reach_the_audit_log_and_survive_a_shutdown(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    server = DockyardServer(tmp_path / "data", env=server_env).start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN) as client:
            push_image_over_http(client, "lib/app", "v1", b"layer")
            assert client.get("/v2/lib/app/manifests/v1").status_code == 200
            deadline = time.monotonic() + 10
            while _pulls(client) < 1:
                assert time.monotonic() < deadline, "the pull was not recorded"
                time.sleep(0.05)
            artifact = client.get("/api/v2.0/projects/lib/repositories/app/artifacts/v1").json()
            assert artifact["pull_time"] is not None
            # Pulled just before the shutdown: written by it.
            assert client.get("/v2/lib/app/manifests/v1").status_code == 200
    finally:
        server.stop()
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN) as client:
            assert _pulls(client) == 2
    finally:
        server.stop()
