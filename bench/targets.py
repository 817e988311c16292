"""The registries under test, each started as a process of our own on 127.0.0.1.

Distribution gets a generated ``config.yml``: filesystem storage in a fresh
directory, deletes enabled, warn-level logs, no access log, and the in-memory
blob descriptor cache that its shipped configuration enables; it runs without
authentication. dockyard is started from a command template (``--dockyard-cmd``)
so that flags such as ``--workers`` can be passed, with the ``admin`` password
set in its environment and the private project the bench pushes to created
beforehand by ``dockyard admin create-project``.

The scale-out targets are the same two registries on the services of
``services.py``: ``dockyard-pg-s3`` gets the database URL and the S3 driver's
settings as ``DOCKYARD_*`` variables, ``distribution-s3`` its ``s3`` storage
driver on a bucket of the same kind of S3 server, with redirects off so that
blobs go through the registry, as dockyard's do (``storage.s3.redirect`` off).
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
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
from bench.errors import BenchError, TargetFailed
from bench.services import S3Bucket, Services

HOST = "127.0.0.1"
DOCKYARD_COMMAND = "{python} -m dockyard serve --host 127.0.0.1 --port {port} --data-dir {data_dir}"
DISTRIBUTION_BINARY = "/usr/bin/docker-registry"
# Distribution S3's storage.s3.multipartcopythresholdsize: S3's CopyObject limit, where
# dockyard too stops copying whole objects (its default is 32 MiB).
MULTIPART_COPY_THRESHOLD = 5 * 1024**3
TARGET_TITLES = {
    "dockyard": "dockyard",
    "distribution": "Distribution",
    "dockyard-pg-s3": "dockyard PG+S3",
    "distribution-s3": "Distribution S3",
}
# The targets that are dockyard, whatever it runs on (the token row measures only them).
DOCKYARD_TARGETS = frozenset({"dockyard", "dockyard-pg-s3"})
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
    # dockyard on PostgreSQL and S3; None: the same command as ``dockyard``.
    dockyard_pg_s3: str | None = None


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


def launch(
    key: str, commands: TargetCommands, workdir: Path, services: Services | None = None
) -> RegistryProcess:
    """Prepare the process for target ``key`` (see TARGET_TITLES), not started; the scale-out
    targets take the database and bucket of ``services``."""
    services = services or Services()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    port = free_port()
    if key in ("distribution", "distribution-s3"):
        if key == "distribution-s3" and services.s3 is None:
            raise ValueError(f"{key} needs an S3 bucket")
        config = workdir / "config.yml"
        config.write_text(yaml.safe_dump(_distribution_config(data_dir, port, services.s3)))
        command = [commands.distribution, "serve", str(config)]
        env = dict(os.environ)
        if key == "distribution-s3":
            # aws-sdk-go cannot load a CA bundle into the transport Distribution gives it (it
            # panics at start); the endpoint is plain http on 127.0.0.1 and needs none.
            env.pop("AWS_CA_BUNDLE", None)
        return RegistryProcess(key, command, env, workdir, port)
    if key in DOCKYARD_TARGETS:
        env = dict(os.environ)
        # The same quiet logging as Distribution's, unless the caller chose otherwise.
        env.setdefault("DOCKYARD_LOG_LEVEL", "warning")
        if key == "dockyard-pg-s3":
            if not {"DOCKYARD_DATABASE__URL", "DOCKYARD_STORAGE__DRIVER"} <= set(
                services.dockyard_env
            ):
                raise ValueError(f"{key} needs a database and a bucket")
            env.update(services.dockyard_env)
        # A fresh data directory: the admin account is created on first start with this.
        credentials = Credentials("admin", secrets.token_urlsafe(18))
        env["DOCKYARD_ADMIN_PASSWORD"] = credentials.password
        template = commands.dockyard
        if key == "dockyard-pg-s3" and commands.dockyard_pg_s3:
            template = commands.dockyard_pg_s3
        command = [
            part.format(python=sys.executable, port=port, data_dir=data_dir)
            for part in shlex.split(template)
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


def _distribution_config(data_dir: Path, port: int, s3: S3Bucket | None) -> dict[str, object]:
    storage: dict[str, object] = {
        "filesystem": {"rootdirectory": str(data_dir)},
        "delete": {"enabled": True},
        "cache": {"blobdescriptor": "inmemory"},
    }
    if s3 is not None:
        del storage["filesystem"]
        storage["s3"] = {
            "accesskey": s3.access_key,
            "secretkey": s3.secret_key,
            "region": s3.region,
            "regionendpoint": s3.endpoint,
            "bucket": s3.bucket,
            "secure": False,
            "v4auth": True,
            "forcepathstyle": True,
            "chunksize": s3.part_size,
            # Commit a blob of up to 5 GiB with one CopyObject, as dockyard does, rather than
            # UploadPartCopy per 32 MiB: moto reads the whole source object for every part
            # copied, so a 2 GiB push ran at 8 MB/s with moto copying GiBs per part.
            "multipartcopythresholdsize": MULTIPART_COPY_THRESHOLD,
        }
        # Blob GETs through the registry, as dockyard serves them (no 307 to the store).
        storage["redirect"] = {"disable": True}
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": storage,
        "http": {"addr": f"{HOST}:{port}", "secret": secrets.token_hex(16)},
    }


def store_in_distribution_bucket(bucket: S3Bucket, repository: str, data: bytes) -> str:
    """Write a blob into ``bucket`` where Distribution's s3 driver keeps it, as a push to
    ``repository`` would leave it (the blob's data and the repository's layer link); its digest.

    For the one blob Distribution 2.8 cannot push to S3: the 0-byte one, which it commits as a
    multipart upload without parts, which S3 (moto as AWS) refuses as MalformedXML
    (distribution/distribution#3763, fixed after 2.8). The blob HEAD row needs that blob."""
    boto3 = importlib.import_module("boto3")  # by name: boto3 ships no type information
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    encoded = digest.split(":", 1)[1]
    client = boto3.client(
        "s3",
        endpoint_url=bucket.endpoint,
        region_name=bucket.region,
        aws_access_key_id=bucket.access_key,
        aws_secret_access_key=bucket.secret_key,
    )
    root = "docker/registry/v2"
    objects = {
        f"{root}/blobs/sha256/{encoded[:2]}/{encoded}/data": data,
        f"{root}/repositories/{repository}/_layers/sha256/{encoded}/link": digest.encode(),
    }
    for key, body in objects.items():
        try:
            client.put_object(Bucket=bucket.bucket, Key=key, Body=body)
        except Exception as error:  # botocore's, whichever: the row cannot run
            raise BenchError(f"writing {key} into the bucket failed: {error}") from error
    return digest


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
