"""Sampling a server's resident memory (the process and all its children) from a thread."""

from __future__ import annotations

import threading
import time

import psutil  # type: ignore[import-untyped]  # psutil ships no type information

_SAMPLE_INTERVAL_S = 0.01
_CHILDREN_REFRESH_S = 0.5


class RssSampler:
    """``with RssSampler(pid) as rss: ...`` then ``rss.growth``: peak minus the RSS at entry."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self._processes: list[psutil.Process] = []
        self._refreshed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.baseline = 0
        self.peak = 0
        self.samples = 0

    @property
    def growth(self) -> int:
        """Peak RSS seen minus RSS at entry, in bytes."""
        return self.peak - self.baseline

    def __enter__(self) -> RssSampler:
        self.baseline = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(_SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, self._rss())
            self.samples += 1

    def _rss(self) -> int:
        now = time.monotonic()
        if now - self._refreshed > _CHILDREN_REFRESH_S:
            # Listing children scans /proc; every 0.5 s is enough to catch new workers.
            self._processes = [self._root, *self._root.children(recursive=True)]
            self._refreshed = now
        total = 0
        for process in self._processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                self._refreshed = 0.0
        return int(total)
