"""The services the scale-out targets run on: PostgreSQL and an S3-speaking server.

They are the test suite's own helpers (``tests/postgres.py``, ``tests/s3_server.py``),
started fresh for each target that needs them and stopped after it: a throw-away
``initdb`` cluster on 127.0.0.1, and moto's standalone S3 server on 127.0.0.1.
No real object store installs here from Debian or PyPI, so the object store is
moto, a Python server: absolute figures of the S3 targets are bounded by its
speed, and what means something is dockyard's figure over Distribution's on the
same kind of moto server.

The helpers live in ``tests`` and import dockyard, asyncpg, boto3 and moto; they
are imported only when a target needs them, so that the default targets run
without any of that.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import importlib
import importlib.util
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # psutil ships no type information

from bench.errors import TargetFailed
from bench.payload import MiB

# S3 multipart part size of both S3 targets: dockyard's default ``storage.s3.part_size``,
# and Distribution's ``storage.s3.chunksize`` (its own default is 10 MiB).
S3_PART_SIZE = 16 * MiB
S3_REGION = "us-east-1"
# The database dockyard gets in the cluster; created empty, dockyard migrates it.
DATABASE = "bench"

# What each target needs, in the order they start.
NEEDS: dict[str, tuple[str, ...]] = {
    "dockyard-pg-s3": ("postgresql", "s3"),
    "distribution-s3": ("s3",),
}
SERVICE_TITLES = {"postgresql": "PostgreSQL", "s3": "moto (S3)"}
# The targets whose blobs are on the S3 server.
ON_S3 = frozenset(target for target, needs in NEEDS.items() if "s3" in needs)


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the S3 server, and how to reach it."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = S3_REGION
    part_size: int = S3_PART_SIZE


@dataclass
class Services:
    """What one target runs on: settings for the registry and the services' processes."""

    # DOCKYARD_* variables giving dockyard the database and the bucket.
    dockyard_env: dict[str, str] = field(default_factory=dict)
    # The bucket, for Distribution's configuration.
    s3: S3Bucket | None = None
    # Service name -> the processes started for it (each with its children: CPU accounting).
    pids: dict[str, list[int]] = field(default_factory=dict)


def missing(targets: list[str]) -> list[str]:
    """What the services of ``targets`` need and this machine lacks."""
    needs = {need for target in targets for need in NEEDS.get(target, ())}
    lacking = []
    if "postgresql" in needs and not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        lacking.append("PostgreSQL (/usr/lib/postgresql/*/bin/postgres)")
    if "s3" in needs:
        lacking += [
            f"the Python module {module}"
            for module in ("moto", "boto3")
            if importlib.util.find_spec(module) is None
        ]
    return lacking


def versions(targets: list[str]) -> list[tuple[str, str]]:
    """(name, version) of the services the targets run on, for the report's header."""
    needs = {need for target in targets for need in NEEDS.get(target, ())}
    found: list[tuple[str, str]] = []
    if "postgresql" in needs:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        found.append(("PostgreSQL", _first_line([binaries[-1], "--version"]) if binaries else "?"))
    if "s3" in needs:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found.append(("S3 server", f"moto {version('moto')} (python -m moto.server)"))
        except PackageNotFoundError:
            found.append(("S3 server", "moto, not installed"))
    return found


@contextlib.contextmanager
def running(target: str, say: Callable[[str], None]) -> Iterator[Services]:
    """Start the services ``target`` needs (none for the default targets), stop them after."""
    needs = NEEDS.get(target, ())
    services = Services()
    with contextlib.ExitStack() as stack:
        try:
            if "postgresql" in needs:
                _start_postgresql(stack, services, say)
            if "s3" in needs:
                _start_s3(stack, services, say)
        except Exception as error:  # whatever the helpers raise: the target cannot run
            first = str(error).strip().splitlines()[:1] or [type(error).__name__]
            raise TargetFailed(f"a service did not start: {first[0]}") from error
        yield services


def _start_postgresql(
    stack: contextlib.ExitStack, services: Services, say: Callable[[str], None]
) -> None:
    server = _helpers("postgres").PostgresServer()
    say("starting PostgreSQL (tests/postgres.py: a throw-away initdb cluster on 127.0.0.1)")
    with _new_children() as started:
        stack.callback(_stopping(say, "PostgreSQL", server.stop))
        server.start()
    services.pids["postgresql"] = started
    url = asyncio.run(server.new_database(DATABASE))
    say(f"  PostgreSQL {server.url.rsplit('@', 1)[-1].rsplit('/', 1)[0]}, database {DATABASE}")
    services.dockyard_env["DOCKYARD_DATABASE__URL"] = url


def _start_s3(stack: contextlib.ExitStack, services: Services, say: Callable[[str], None]) -> None:
    helpers = _helpers("s3_server")
    server = helpers.S3Server()
    say("starting the S3 server (tests/s3_server.py: moto on 127.0.0.1)")
    with _new_children() as started:
        stack.callback(shutil.rmtree, server.log.parent, ignore_errors=True)
        stack.callback(_stopping(say, "the S3 server", server.stop))
        server.start()
    services.pids["s3"] = started
    bucket = server.new_bucket()
    say(f"  S3 endpoint {server.endpoint}, bucket {bucket}")
    services.s3 = S3Bucket(server.endpoint, bucket, helpers.ACCESS_KEY, helpers.SECRET_KEY)
    settings = server.settings(bucket=bucket, part_size=S3_PART_SIZE, region=S3_REGION)
    services.dockyard_env.update(helpers.S3Server.environment(settings))


def _stopping(
    say: Callable[[str], None], title: str, stop: Callable[[], None]
) -> Callable[[], None]:
    def stopping() -> None:
        say(f"stopping {title}")
        stop()

    return stopping


@contextlib.contextmanager
def _new_children() -> Iterator[list[int]]:
    """The pids of the processes this process starts inside the block (the helpers keep
    theirs to themselves): the service, which the CPU account counts with its children."""
    me = psutil.Process()
    before = {child.pid for child in me.children()}
    started: list[int] = []
    try:
        yield started
    finally:
        started += [child.pid for child in me.children() if child.pid not in before]


def _first_line(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError as error:
        return f"unavailable ({error.strerror}: {shlex.join(command)})"
    output = (completed.stdout or completed.stderr).strip()
    return output.splitlines()[0] if output else "unknown"


def _helpers(name: str) -> Any:
    """``tests.<name>``, the test suite's module (next to ``bench``), wherever the bench was
    started from. Imported by name: mypy checks the bench, not the tests and their imports."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.append(root)
    return importlib.import_module(f"tests.{name}")
