"""Registry servers as real processes, for tests that need sockets, clients or restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path

import httpx

from dockyard.settings import S3Settings
from tests.stored import s3_keys

# The admin's password in every registry the tests start, in process or not.
ADMIN_PASSWORD = "admin-Secret-1"
ADMIN = ("admin", ADMIN_PASSWORD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RegistryProcess(ABC):
    """A registry listening on 127.0.0.1: start its command, wait for ``/v2/``, stop it."""

    name = "registry"

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts this kind of registry."""

    def environment(self) -> dict[str, str] | None:
        return None

    def launch(self, timeout: float) -> None:
        """Start the process and poll ``GET /v2/`` until it answers, with a deadline."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.environment()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()}")
            try:
                # 200 from a registry without auth, 401 with the challenge from one with it.
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout}s:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class DockyardServer(RegistryProcess):
    """One ``dockyard serve`` process with its own data dir, its admin's password
    ADMIN_PASSWORD, and the private ``projects`` created before it starts."""

    name = "dockyard"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *extra: str,
        workers: int = 1,
        projects: tuple[str, ...] = ("lib", "clients"),
        env: dict[str, str] | None = None,
    ) -> None:
        port = port or free_port()
        super().__init__(data_dir.parent / f"dockyard-{port}.log", port)
        self.data_dir = data_dir
        self.projects = projects
        # DOCKYARD_* settings of this server (a shared database, an S3 bucket).
        self.env = env or {}
        # One process by default, so that a signal reaches the process that serves.
        self.extra = ("--workers", str(workers), *extra)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra,
        ]

    def environment(self) -> dict[str, str]:
        # The test's own settings only: nothing from a developer's DOCKYARD_* variables.
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        environment["DOCKYARD_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        environment.update(self.env)
        return environment

    def start(self, timeout: float = 30.0) -> DockyardServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Once per registry, whichever database it has; a restart finds them there.
        created = self.data_dir / ".test-projects-created"
        if self.projects and not created.exists():
            for project in self.projects:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "dockyard",
                        "admin",
                        "create-project",
                        project,
                        "--data-dir",
                        str(self.data_dir),
                    ],
                    check=True,
                    capture_output=True,
                    env=self.environment(),
                    timeout=60,
                )
            created.touch()
        self.launch(timeout)
        return self

    def stored(self, area: str) -> list[str]:
        """What the blob storage holds under ``area`` ("blobs" or "uploads"): file paths
        under the data dir's blob root, or keys of the S3 bucket."""
        if "DOCKYARD_STORAGE__S3__BUCKET" not in self.env:
            root = self.data_dir / "blobs"
            if area == "uploads":
                return [str(p) for p in (root / "_uploads").glob("*")]
            return [str(p) for p in root.rglob("*") if p.is_file() and "_uploads" not in p.parts]
        variable = "DOCKYARD_STORAGE__S3__"
        s3 = S3Settings.model_validate(
            {
                name.removeprefix(variable).lower(): value
                for name, value in self.env.items()
                if name.startswith(variable) and value != "None"
            }
        )
        return s3_keys(s3, f"{s3.prefix}{area}/")
