"""Wall time of a measured section, and how much of a core the client itself used in it."""

from __future__ import annotations

import time


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds`` and ``watch.client_cpu``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._wall = 0.0
        self._cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu

    @property
    def client_cpu(self) -> str:
        """The client's CPU time over the wall time, e.g. "31% of a core"."""
        share = self.cpu_seconds / self.seconds if self.seconds else 0.0
        return f"client CPU {share:.0%} of a core"

    def throughput(self, byte_count: int) -> float:
        """MB/s (10^6 bytes per second) over the measured section."""
        return mb_per_s(byte_count, self.seconds)


def mb_per_s(byte_count: int, seconds: float) -> float:
    """Throughput in MB/s (10^6 bytes per second)."""
    return byte_count / seconds / 1e6
