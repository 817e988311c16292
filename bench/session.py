"""One target's run: its process, the shared blob source, and fixtures pushed once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.client import RegistryClient
from bench.payload import BlobSource
from bench.plan import Plan
from bench.targets import RegistryProcess

T = TypeVar("T")


@dataclass
class Session:
    """What a workload needs to measure one target."""

    target: RegistryProcess
    plan: Plan
    source: BlobSource
    workdir: Path
    wrk: str = "wrk"
    _fixtures: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the target."""
        return f"http://{self.address}{path}"

    def client(self) -> RegistryClient:
        """A fresh keep-alive client; one per thread."""
        return RegistryClient(self.target.host, self.target.port)

    def once(self, name: str, make: Callable[[], T]) -> T:
        """A fixture made on first use and shared by the workloads that need it."""
        if name not in self._fixtures:
            self._fixtures[name] = make()
        value: T = self._fixtures[name]
        return value

    def say(self, message: str) -> None:
        """Progress, on stderr."""
        print(f"[{self.target.title}] {message}", file=sys.stderr, flush=True)
