"""Who used the CPU while a target ran: the server, the services it runs on (PostgreSQL,
the S3 server), this client (with wrk), and everything else.

The machine may be shared (a test suite, another benchmark); the report states
how much of it other work took, so noisy figures are recognisable as such.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # psutil ships no type information


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds over a wall-clock span, split by who spent them."""

    wall_seconds: float
    server_seconds: float
    client_seconds: float
    other_seconds: float
    # Per service of the target (e.g. "postgresql", "s3"), with its children.
    service_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def other_percent(self) -> float:
        """Other work, as a percentage of all the machine's cores over the span."""
        cores = os.cpu_count() or 1
        return 100.0 * self.other_seconds / (self.wall_seconds * cores)


class CpuAccount:
    """Snapshot at construction; :meth:`share` splits what was spent since."""

    def __init__(
        self, server_pid: int, services: Mapping[str, Sequence[int]] | None = None
    ) -> None:
        self._server = psutil.Process(server_pid)
        self._services = {
            name: [psutil.Process(pid) for pid in pids] for name, pids in (services or {}).items()
        }
        self._wall = time.monotonic()
        self._busy = _busy_seconds()
        self._client = _client_seconds()
        self._server_start = _tree_seconds(self._server)
        self._services_start = self._services_seconds()

    def share(self) -> CpuShare:
        """Seconds spent since the snapshot; call it while the server and services still run
        (psutil.NoSuchProcess if one has gone)."""
        busy = _busy_seconds() - self._busy
        client = _client_seconds() - self._client
        server = _tree_seconds(self._server) - self._server_start
        services = {
            name: seconds - self._services_start[name]
            for name, seconds in self._services_seconds().items()
        }
        return CpuShare(
            wall_seconds=time.monotonic() - self._wall,
            server_seconds=server,
            client_seconds=client,
            other_seconds=max(0.0, busy - server - client - sum(services.values())),
            service_seconds=services,
        )

    def _services_seconds(self) -> dict[str, float]:
        return {
            name: sum(_tree_seconds(process) for process in processes)
            for name, processes in self._services.items()
        }


def _tree_seconds(root: psutil.Process) -> float:
    """CPU seconds of ``root``, of the children it waited for, and of its live descendants."""
    times = root.cpu_times()
    descendants = root.children(recursive=True)
    total = times.user + times.system + times.children_user + times.children_system
    for child in descendants:
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return float(total)


def _busy_seconds() -> float:
    # Time in processes only: interrupt time is the network stack working for everyone.
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system)


def _client_seconds() -> float:
    # Our own threads, plus wrk and any other child we waited for.
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
