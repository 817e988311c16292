"""Fixtures for the real clients: one registry server for the session, tools, and images.

The tools are logged in once per session as the admin (``skopeo login``, the token flow
for real), through an auth file of their own; tests of login itself use other files.

The server is dockyard; with ``DOCKYARD_TEST_AGAINST=distribution`` it is CNCF Distribution
instead, to tell a client's quirk from a dockyard bug.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.clients.distribution import DistributionServer
from tests.conftest import BACKENDS
from tests.postgres import PostgresServer
from tests.s3_server import S3Server
from tests.servers import ADMIN, DockyardServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder drives a real client: mark it so (-m clients / not clients)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.clients)


class RunningRegistry(Protocol):
    """What the tests know of the server: where it listens."""

    @property
    def host(self) -> str: ...

    @property
    def url(self) -> str: ...


AGAINST = os.environ.get("DOCKYARD_TEST_AGAINST", "dockyard")


@pytest.fixture(scope="session", params=BACKENDS if AGAINST == "dockyard" else [AGAINST])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    """A registry as users run it: its own process, plain HTTP on 127.0.0.1.

    dockyard with two workers by default, on SQLite and files, then on PostgreSQL and
    S3; CNCF Distribution when DOCKYARD_TEST_AGAINST says so.
    """
    root = tmp_path_factory.mktemp("registry")
    server: DockyardServer | DistributionServer
    if AGAINST == "dockyard":
        env: dict[str, str] = {}
        if request.param == "postgresql+s3":
            postgres: PostgresServer = request.getfixturevalue("postgres")
            env["DOCKYARD_DATABASE__URL"] = asyncio.run(postgres.new_database("clients"))
            s3: S3Server = request.getfixturevalue("s3_server")
            env.update(S3Server.environment(s3.settings()))
        server = DockyardServer(root / "data", workers=2, env=env).start()
    elif AGAINST == "distribution":
        server = DistributionServer(root).start()
    else:
        raise pytest.UsageError(
            f"DOCKYARD_TEST_AGAINST={AGAINST!r}: expected 'dockyard' or 'distribution'"
        )
    yield server
    server.stop()


@dataclass(frozen=True)
class Tools:
    """Runs the real clients, each container tool with storage of its own in a temp dir."""

    root: Path

    @property
    def auth_file(self) -> Path:
        """The containers auth file that skopeo, podman and buildah read (REGISTRY_AUTH_FILE)."""
        return self.root / "auth.json"

    def run(
        self,
        *command: str,
        timeout: float = 180,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "REGISTRY_AUTH_FILE": str(self.auth_file), **(env or {})},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def storage_flags(self) -> list[str]:
        return ["--root", str(self.root / "storage"), "--runroot", str(self.root / "run")]

    def podman(self, *arguments: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("podman", *self.storage_flags(), *arguments, **kwargs)  # type: ignore[arg-type]

    def buildah(self, *arguments: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("buildah", *self.storage_flags(), *arguments, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry) -> Tools:
    tools = Tools(tmp_path_factory.mktemp("tools"))
    user, password = ADMIN
    tools.run(
        "skopeo",
        "login",
        "--tls-verify=false",
        "-u",
        user,
        "--password-stdin",
        registry.host,
        input=password,
    )
    return tools


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository of its own for each test, named after it."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
    return f"clients/{name.strip('-')}"
