"""``dockyard admin``: users, passwords and projects from the command line, through the
same services as the API; and the admin account a first start creates."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.servers import DockyardServer
from tests.test_cli import _dockyard


async def test_create_user_reset_password_and_create_project(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    async def admin(*arguments: str) -> tuple[int, str, str]:
        data = str(tmp_path / "data")
        return await _dockyard("admin", *arguments, "--data-dir", data, env=server_env)

    code, out, err = await admin("create-user", "alice", "--password", "alice-password-1")
    assert code == 0, err
    assert "created user alice" in out
    code, _, err = await admin("create-user", "alice", "--password", "alice-password-1")
    assert code != 0
    assert "exists already" in err
    code, _, err = await admin("create-user", "bob", "--password", "short")
    assert code != 0
    assert "8 to 1024" in err
    code, out, err = await admin("reset-password", "alice", "--password", "alice-password-2")
    assert code == 0, err
    code, out, err = await admin("create-project", "team")
    assert code == 0, err
    assert "private project team" in out
    code, _, err = await admin("create-project", "Bad Name")
    assert code != 0
    assert "invalid project name" in err

    server = DockyardServer(tmp_path / "data", projects=(), env=server_env).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/v2/", auth=("alice", "alice-password-1"))).status_code == 401
            assert (await client.get("/v2/", auth=("alice", "alice-password-2"))).status_code == 200
            r = await client.get("/api/v2.0/projects/team", auth=("alice", "alice-password-2"))
            assert r.status_code == 404  # private, and alice is no member
    finally:
        server.stop()


async def test_first_start_prints_a_generated_admin_password_once(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    class Unconfigured(DockyardServer):
        def environment(self) -> dict[str, str]:
            environment = super().environment()
            del environment["DOCKYARD_ADMIN_PASSWORD"]
            return environment

    server = Unconfigured(tmp_path / "data", projects=(), env=server_env)
    server.start()
    try:
        log = server.log.read_text()
        found = re.search(r"created the 'admin' account with the password (\S+)", log)
        assert found, log
        password = found.group(1)
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/v2/", auth=("admin", password))).status_code == 200
    finally:
        server.stop()
    # A second start keeps the account and prints nothing new.
    server.start()
    server.stop()
    assert server.log.read_text().count("created the 'admin' account") == 1


@pytest.mark.parametrize("password", ["", "pass word ok but"])
async def test_admin_password_from_the_environment(
    tmp_path: Path, password: str, server_env: dict[str, str]
) -> None:
    # An empty DOCKYARD_ADMIN_PASSWORD is no password: one is generated instead.
    class Configured(DockyardServer):
        def environment(self) -> dict[str, str]:
            return {**super().environment(), "DOCKYARD_ADMIN_PASSWORD": password}

    server = Configured(tmp_path / "data", projects=(), env=server_env).start()
    try:
        printed = "created the 'admin' account" in server.log.read_text()
        assert printed == (password == "")
        if password:
            async with httpx.AsyncClient(base_url=server.url) as client:
                assert (await client.get("/v2/", auth=("admin", password))).status_code == 200
    finally:
        server.stop()
