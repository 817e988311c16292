"""A PostgreSQL server of the test session's own: a fresh cluster in a temp dir, on 127.0.0.1.

The tests start it themselves (initdb, then postgres) rather than assume one is
running, and throw it away at the end. As root, the cluster runs as the
``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

from dockyard.db.migrate import upgrade
from dockyard.db.models import Base
from dockyard.scanning.scanners import BUILTIN_UUID
from tests.servers import free_port


class _PortTaken(RuntimeError):
    """Another process bound the server's port first."""


class PostgresServer:
    """One throw-away cluster with one migrated database, emptied before each test."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
        self._use_port(free_port())
        self._process: subprocess.Popen[bytes] | None = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/dockyard"
        self._dsn = f"postgresql://postgres@127.0.0.1:{self.port}/dockyard"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        bindir = Path(binaries[-1])
        as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            as_owner = ["runuser", "-u", "postgres", "--"]
        data = self.root / "data"
        subprocess.run(
            [
                *as_owner,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        # The free port may be taken by another process before the server binds it (the
        # other test process starts servers too): then start again on another one.
        for attempt in range(5):
            self._launch(bindir, data, as_owner)
            try:
                with ThreadPoolExecutor(1) as thread:  # the caller may be inside an event loop
                    thread.submit(self._prepare, timeout).result()
                return self
            except _PortTaken:
                if attempt == 4:
                    raise
                self._use_port(free_port())
        raise AssertionError("unreachable")

    def _launch(self, bindir: Path, data: Path, as_owner: list[str]) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - open while the server runs
        self._process = subprocess.Popen(
            [
                *as_owner,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def _prepare(self, timeout: float) -> None:
        asyncio.run(self._create_database(timeout))
        upgrade(self.url)

    async def _create_database(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.root / "server.log").read_text()
                if "Address already in use" in log:
                    (self.root / "server.log").unlink()
                    raise _PortTaken(log)
                raise RuntimeError(log)
            try:
                connection = await asyncpg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=2
                )
                break
            except (OSError, asyncpg.CannotConnectNowError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        try:
            await connection.execute('CREATE DATABASE "dockyard"')
        finally:
            await connection.close()

    async def new_database(self, name: str) -> str:
        """A new, empty database (no schema at all) in the cluster; its URL."""
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    async def empty(self) -> None:
        """Back to a freshly migrated database."""
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            # What the migrations seed: the public default project, the built-in scanner.
            await connection.execute(
                "INSERT INTO projects (name, public, created_at) VALUES ('library', true, now())"
            )
            await connection.execute(
                "INSERT INTO project_usage (project_id, storage_used, artifact_count) "
                "SELECT id, 0, 0 FROM projects"
            )
            await connection.execute(
                "INSERT INTO scanners (uuid, name, description, url, auth, access_credential, "
                "skip_cert_verify, ca_bundle, use_internal_addr, disabled, is_default, builtin, "
                "created_at, updated_at) VALUES ($1, 'dockyard', '', '', '', '', false, '', "
                "true, false, true, true, now(), now())",
                BUILTIN_UUID,
            )
        finally:
            await connection.close()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
