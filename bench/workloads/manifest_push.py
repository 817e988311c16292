"""Manifest PUT rate: each tag a distinct small image manifest, a fixed number of PUTs."""

from __future__ import annotations

import statistics

from bench import images
from bench.loadgen import burst
from bench.plan import Plan
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session

_REPOSITORY = "bench/manifest-put"


def _rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "manifest-put",
            f"Manifest PUT, {plan.manifests} tags, {plan.manifest_connections} connections",
            "req/s",
            "higher",
        ),
        RowSpec("manifest-put-p99", "Manifest PUT p99 latency", "ms", "lower"),
    ]


def _run(session: Session) -> Figures:
    plan = session.plan
    with session.client(_REPOSITORY) as client:
        blobs = images.push_image_blobs(client, _REPOSITORY, session.source, 6_000_000)
        manifests = {
            images.tag(i): images.manifest(blobs, images.tag(i)) for i in range(plan.manifests)
        }
        requests = images.manifest_puts(session.address, _REPOSITORY, manifests, client.headers)
        session.say(f"manifest PUT: {len(requests)} tags, {plan.manifest_connections} connections")
        result = burst(
            session.target.host, session.target.port, requests, plan.manifest_connections
        )
        images.check_tags(client, _REPOSITORY, list(manifests))
    p99_ms = statistics.quantiles(result.latencies, n=100)[98] * 1e3
    session.say(
        f"  {result.rate:.0f} req/s, p99 {p99_ms:.1f} ms ({result.seconds:.2f} s, "
        f"client CPU {result.client_cpu_seconds / result.seconds:.0%} of a core)"
    )
    return {"manifest-put": result.rate, "manifest-put-p99": p99_ms}


MANIFEST_PUT = Workload(
    "manifest-put",
    "manifest PUT req/s, 2,000 distinct tagged manifests, 16 connections",
    _rows,
    _run,
)
