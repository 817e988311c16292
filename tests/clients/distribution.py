"""CNCF Distribution (``docker-registry serve``): the reference the client tests can run against."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.servers import free_port

# Polling interval while the server starts; spent waiting on the process, so an early exit
# shows at once.
POLL = 0.05


class DistributionServer:
    """One ``docker-registry serve`` process on 127.0.0.1, filesystem storage, deletes on."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.config = root / "config.yml"
        self.log = root / f"distribution-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def write_config(self) -> None:
        self.config.write_text(
            "version: 0.1\n"
            "log:\n"
            "  level: info\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {self.root / 'storage'}\n"
            "  delete:\n"
            "    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
        )

    def start(self, timeout: float = 30.0) -> DistributionServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            try:
                self.process.wait(timeout=POLL)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"docker-registry exited early:\n{self.log.read_text()}")
        self.stop()
        raise RuntimeError(
            f"docker-registry did not answer within {timeout}s:\n{self.log.read_text()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
