"""CNCF Distribution (``docker-registry serve``): the reference the client tests can run against."""

from __future__ import annotations

from pathlib import Path

from tests.servers import RegistryProcess


class DistributionServer(RegistryProcess):
    """One ``docker-registry serve`` process, filesystem storage, deletes on."""

    name = "docker-registry"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root / "distribution.log", port)
        self.root = root
        self.config = root / "config.yml"

    def command(self) -> list[str]:
        return ["docker-registry", "serve", str(self.config)]

    def start(self, timeout: float = 30.0) -> DistributionServer:
        self.root.mkdir(parents=True, exist_ok=True)
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
        self.launch(timeout)
        return self
