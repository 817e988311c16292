"""Duration-bound load with wrk: a generated Lua script in, parsed figures out.

wrk counts only statuses above 399 as errors ("Non-2xx or 3xx responses"); a run
with any of those, or with any socket error, fails the row. wrk cannot measure
HEAD against a response that carries a non-zero Content-Length (its parser waits
for a body that never comes), which is why the HEAD row targets a 0-byte blob.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_BINARY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


@dataclass(frozen=True)
class WrkResult:
    """The figures of one wrk run."""

    requests: int
    seconds: float
    rate: float
    p99_ms: float
    bytes_read: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class WrkLoad:
    """What wrk is told to do."""

    url: str
    script: str
    connections: int
    threads: int
    duration_s: float
    timeout_s: float = 10.0


def request_script(method: str, paths: Sequence[str], headers: dict[str, str]) -> str:
    """A Lua script sending ``method`` to each path in turn, with ``headers``."""
    header_table = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
    if len(paths) == 1:
        # A static request: wrk builds it once and never calls into Lua per request.
        lines = [f"wrk.method = {_lua(method)}", f"wrk.path = {_lua(paths[0])}"]
        lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
        return "\n".join(lines) + "\n"
    path_list = ",\n  ".join(_lua(path) for path in paths)
    return f"""local paths = {{
  {path_list}
}}
local headers = {{ {header_table} }}
local prepared = {{}}
local index = 0

function init(args)
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format({_lua(method)}, path, headers)
  end
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end
"""


def run(load: WrkLoad, workdir: Path, wrk: str = "wrk") -> WrkResult:
    """Run wrk with ``--latency`` and return its figures; a failed request fails the run."""
    script = workdir / "load.lua"
    script.write_text(load.script)
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={load.duration_s:g}s",
        f"--timeout={load.timeout_s:g}s",
        "--latency",
        f"--script={script}",
        load.url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=load.duration_s + 60, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk exited {completed.returncode}: {completed.stderr.strip()}")
    result = parse(completed.stdout)
    if result.non_2xx_3xx:
        raise BenchError(
            f"wrk saw {result.non_2xx_3xx} responses with status >= 400 out of {result.requests}"
        )
    if any(result.socket_errors.values()):
        raise BenchError(f"wrk socket errors: {json.dumps(result.socket_errors)}")
    if result.requests == 0:
        raise BenchError("wrk completed no request:\n" + completed.stdout)
    return result


def parse(output: str) -> WrkResult:
    """Read wrk's (``--latency``) report."""
    summary = _search(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+)(\w?)B read", output)
    rate = _search(r"^Requests/sec:\s+([\d.]+)", output)
    p99 = _search(r"^\s+99(?:\.000)?%\s+([\d.]+)(\w+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    statuses = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if errors:
        socket_errors = dict(zip(socket_errors, map(int, errors.groups()), strict=True))
    return WrkResult(
        requests=int(summary[1]),
        seconds=_milliseconds(summary[2]) / 1e3,
        rate=float(rate[1]),
        p99_ms=float(p99[1]) * _TIME_UNITS[p99[2]],
        bytes_read=float(summary[3]) * _BINARY_UNITS[summary[4]],
        non_2xx_3xx=int(statuses[1]) if statuses else 0,
        socket_errors=socket_errors,
    )


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise BenchError(f"wrk printed a duration I cannot read: {text!r}")
    return float(match[1]) * _TIME_UNITS[match[2]]


def _search(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise BenchError(f"wrk output has no line matching {pattern!r}:\n{output}")
    return match


def _lua(text: str) -> str:
    # For ASCII, JSON string escapes are valid Lua string escapes.
    if not text.isascii():
        raise BenchError(f"not ASCII, cannot quote for Lua: {text!r}")
    return json.dumps(text)
