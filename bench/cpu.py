"""Who used the CPU while a target ran: the server, this client (with wrk), and everything else.

The machine may be shared (a test suite, another benchmark); the report states
how much of it other work took, so noisy figures are recognisable as such.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]  # psutil ships no type information


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds over a wall-clock span, split by who spent them."""

    wall_seconds: float
    server_seconds: float
    client_seconds: float
    other_seconds: float

    @property
    def other_percent(self) -> float:
        """Other work, as a percentage of all the machine's cores over the span."""
        cores = os.cpu_count() or 1
        return 100.0 * self.other_seconds / (self.wall_seconds * cores)


class CpuAccount:
    """Snapshot at construction; :meth:`share` splits what was spent since."""

    def __init__(self, server_pid: int) -> None:
        self._server = psutil.Process(server_pid)
        self._wall = time.monotonic()
        self._busy = _busy_seconds()
        self._client = _client_seconds()
        self._server_start = self._server_seconds()

    def share(self) -> CpuShare:
        """Seconds spent since the snapshot; call it while the server still runs."""
        busy = _busy_seconds() - self._busy
        client = _client_seconds() - self._client
        server = self._server_seconds() - self._server_start
        return CpuShare(
            wall_seconds=time.monotonic() - self._wall,
            server_seconds=server,
            client_seconds=client,
            other_seconds=max(0.0, busy - server - client),
        )

    def _server_seconds(self) -> float:
        times = self._server.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in self._server.children(recursive=True):
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
