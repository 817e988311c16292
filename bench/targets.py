"""The two registries under test, each started as a process of our own on 127.0.0.1.

Distribution gets a generated ``config.yml``: filesystem storage in a fresh
directory, deletes enabled, warn-level logs, no access log, and the in-memory
blob descriptor cache that its shipped configuration enables; it runs without
authentication. dockyard is started from a command template (``--dockyard-cmd``)
so that flags such as ``--workers`` can be passed, with the ``admin`` password
set in its environment and the private project the bench pushes to created
beforehand by ``dockyard admin create-project``.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.auth import Credentials
from bench.errors import TargetFailed

HOST = "127.0.0.1"
DOCKYARD_COMMAND = "{python} -m dockyard serve --host 127.0.0.1 --port {port} --data-dir {data_dir}"
DISTRIBUTION_BINARY = "/usr/bin/docker-registry"
TARGET_TITLES = {"dockyard": "dockyard", "distribution": "Distribution"}
# dockyard's private project holding every bench/... repository; ``library`` is its
# public one, which exists from the start.
PRIVATE_PROJECT = "bench"
# The options of ``dockyard serve`` that say where its data is: ``admin create-project``
# takes them too, so that a --dockyard-cmd pointing elsewhere creates the project there.
_SETTINGS_OPTIONS = ("--config", "--data-dir", "--database-url")

_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 20.0
_POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class TargetCommands:
    """How to start each target."""

    dockyard: str = DOCKYARD_COMMAND
    distribution: str = DISTRIBUTION_BINARY


class RegistryProcess:
    """One registry process with its own data directory and port."""

    def __init__(
        self,
        key: str,
        command: list[str],
        env: dict[str, str],
        workdir: Path,
        port: int,
        credentials: Credentials | None = None,
        setup: list[list[str]] | None = None,
    ) -> None:
        self.key = key
        self.title = TARGET_TITLES[key]
        self.command = command
        self.env = env
        self.workdir = workdir
        self.port = port
        # The user the bench logs in as, on a registry that asks for one.
        self.credentials = credentials
        # Commands run, in order and each checked, before the registry starts.
        self.setup = setup or []
        self.log = workdir / f"{key}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def pid(self) -> int:
        if self._process is None:
            raise TargetFailed(f"{self.title} is not running")
        return self._process.pid

    def start(self) -> None:
        """Run the setup commands, start the process and poll GET /v2/ until it answers
        (200, or 401 from a registry that wants credentials), within a deadline."""
        with self.log.open("ab") as log:
            for command in self.setup:
                completed = subprocess.run(
                    command, stdout=log, stderr=subprocess.STDOUT, env=self.env, timeout=120
                )
                if completed.returncode != 0:
                    raise TargetFailed(
                        f"{shlex.join(command)} exited {completed.returncode}\n{self.log_tail()}"
                    )
            self._process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            if _answers(self.host, self.port):
                return
            time.sleep(_POLL_INTERVAL_S)
        self.stop()
        raise TargetFailed(
            f"{self.title} did not answer GET /v2/ within {_READY_TIMEOUT_S:.0f}s\n"
            + self.log_tail()
        )

    def check_alive(self) -> None:
        """Raise if the process has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise TargetFailed(
                f"{self.title} exited with {self._process.returncode}\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM the process we started, SIGKILL it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's output."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def launch(key: str, commands: TargetCommands, workdir: Path) -> RegistryProcess:
    """Prepare the process for target ``key`` ("dockyard" or "distribution"), not started."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    port = _free_port()
    if key == "distribution":
        config = workdir / "config.yml"
        config.write_text(yaml.safe_dump(_distribution_config(data_dir, port)))
        command = [commands.distribution, "serve", str(config)]
        return RegistryProcess(key, command, dict(os.environ), workdir, port)
    if key == "dockyard":
        env = dict(os.environ)
        # The same quiet logging as Distribution's, unless the caller chose otherwise.
        env.setdefault("DOCKYARD_LOG_LEVEL", "warning")
        # A fresh data directory: the admin account is created on first start with this.
        credentials = Credentials("admin", secrets.token_urlsafe(18))
        env["DOCKYARD_ADMIN_PASSWORD"] = credentials.password
        command = [
            part.format(python=sys.executable, port=port, data_dir=data_dir)
            for part in shlex.split(commands.dockyard)
        ]
        setup = [_create_project(command, PRIVATE_PROJECT)]
        return RegistryProcess(key, command, env, workdir, port, credentials, setup)
    raise ValueError(f"unknown target {key!r}")


def _create_project(serve: list[str], name: str) -> list[str]:
    """``dockyard admin create-project NAME`` with the data options of the serve command."""
    if "serve" not in serve:
        raise ValueError(f"--dockyard-cmd has no 'serve' subcommand: {shlex.join(serve)}")
    at = serve.index("serve")
    options: list[str] = []
    arguments = iter(serve[at + 1 :])
    for argument in arguments:
        if argument in _SETTINGS_OPTIONS:
            options += [argument, next(arguments, "")]
        elif argument.startswith(tuple(f"{option}=" for option in _SETTINGS_OPTIONS)):
            options.append(argument)
    return [*serve[:at], "admin", "create-project", name, *options]


def _distribution_config(data_dir: Path, port: int) -> dict[str, object]:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": f"{HOST}:{port}", "secret": secrets.token_hex(16)},
    }


def _answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/v2/")
        response = connection.getresponse()
        response.read()
        return response.status in (200, 401)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
