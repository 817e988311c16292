"""A wrk run whose responses must cover the body one checked request answered."""

from __future__ import annotations

from bench import wrk
from bench.errors import BenchError
from bench.session import Session


def run_wrk(session: Session, load: wrk.WrkLoad, min_body: int) -> wrk.WrkResult:
    """Run ``load``; fail if its responses average less than ``min_body`` bytes, so that a
    registry answering, say, 304 or an empty 200 cannot pass for a fast one."""
    result = wrk.run(load, session.workdir, session.wrk)
    if result.bytes_per_response < min_body:
        raise BenchError(
            f"responses average {result.bytes_per_response:.0f} bytes, "
            f"less than the {min_body}-byte body"
        )
    session.say(
        f"  {result.rate:.0f} req/s, p99 {result.p99_ms:.2f} ms "
        f"({result.requests} requests in {result.seconds:.1f} s)"
    )
    return result
