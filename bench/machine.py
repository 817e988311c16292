"""What the figures were measured on: hardware, OS, and the versions under test."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # psutil ships no type information

_REPO_ROOT = Path(__file__).resolve().parent.parent


def describe(distribution_binary: str, wrk: str, workdir: Path) -> list[tuple[str, str]]:
    """(name, value) pairs for the header of the report."""
    memory = psutil.virtual_memory().total
    physical = psutil.cpu_count(logical=False)
    return [
        ("CPU", _cpu_model()),
        ("Cores", f"{os.cpu_count()} logical" + (f", {physical} physical" if physical else "")),
        ("RAM", f"{memory / 1024**3:.1f} GiB"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("OS", _os_name()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Storage", _filesystem(workdir)),
        ("dockyard", _dockyard_version()),
        ("Distribution", _first_line([distribution_binary, "--version"])),
        ("wrk", _first_line([wrk, "--version"]).split(" Copyright")[0]),
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _filesystem(workdir: Path) -> str:
    """The filesystem holding both registries' data directories."""
    target = str(workdir.resolve())
    best = None
    for partition in psutil.disk_partitions(all=True):
        if target.startswith(partition.mountpoint) and (
            best is None or len(partition.mountpoint) > len(best.mountpoint)
        ):
            best = partition
    if best is None:
        return target
    return f"{best.fstype} ({best.device}) under {target}"


def _dockyard_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("dockyard")
    except PackageNotFoundError:
        installed = "not installed"
    commit = _first_line(["git", "-C", str(_REPO_ROOT), "describe", "--always", "--dirty"])
    return f"{installed} (git {commit})"


def _first_line(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError as error:
        return f"unavailable ({error.strerror})"
    output = (completed.stdout or completed.stderr).strip()
    return output.splitlines()[0] if output else "unknown"
