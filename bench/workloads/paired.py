"""One wrk load sent anonymously and with a bearer token, in the same run, to price the token.

The two variants alternate (anonymous, token, token, anonymous, ...) in runs of
equal length, so that a drift over the run (a cache warming, the machine getting
busier) weighs on both alike. Each variant's rate is its requests over its
seconds across its runs; its p99 is the highest of its runs' p99s.

dockyard's anonymous requests read the public ``library`` project, its token
requests carry the token a client pushing to and pulling from the same
repository gets, so the only difference is the ``Authorization`` header and what
dockyard does with it. Distribution runs without authentication: both of its
variants are anonymous, and its ratio is the run-to-run noise of two identical loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import wrk
from bench.plan import Plan
from bench.rows import Figures, RowSpec
from bench.session import Session
from bench.workloads.checked import run_wrk

# The target: the token may cost the data plane at most 10%.
TARGET_RATIO = 0.90
VARIANTS = ("anon", "token")
_TITLES = {"anon": "anonymous", "token": "bearer token"}


@dataclass(frozen=True)
class PairedLoad:
    """What both variants send: ``method`` to ``paths`` in turn, with ``headers``."""

    key: str
    title: str
    method: str
    paths: list[str]
    headers: dict[str, str]
    min_body: int


def rows(key: str, title: str, plan: Plan) -> list[RowSpec]:
    """Rate and p99 per variant, then the token / anonymous ratio."""
    run_seconds = plan.read_seconds / plan.paired_rounds
    load = f"{plan.read_connections} connections, {plan.paired_rounds} x {run_seconds:g} s (wrk)"
    specs: list[RowSpec] = []
    for variant in VARIANTS:
        specs += [
            RowSpec(f"{key}-{variant}", f"{title}, {_TITLES[variant]}, {load}", "req/s", "higher"),
            RowSpec(
                f"{key}-{variant}-p99", f"{title} p99 latency, {_TITLES[variant]}", "ms", "lower"
            ),
        ]
    specs.append(
        RowSpec(
            f"{key}-token-ratio",
            f"{title}, bearer token / anonymous (target >= {TARGET_RATIO:.2f})",
            "ratio",
            "higher",
            compare=False,
        )
    )
    return specs


def run(session: Session, load: PairedLoad, token: dict[str, str]) -> Figures:
    """Alternate the anonymous and the ``token`` variant; figures for every row of ``rows``."""
    plan = session.plan
    run_seconds = plan.read_seconds / plan.paired_rounds
    script = {
        "anon": wrk.request_script(load.method, load.paths, load.headers),
        "token": wrk.request_script(load.method, load.paths, load.headers | token),
    }
    results: dict[str, list[wrk.WrkResult]] = {variant: [] for variant in VARIANTS}
    for round_index in range(plan.paired_rounds):
        order = VARIANTS if round_index % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            session.say(
                f"{load.title}, {_TITLES[variant]}: {plan.read_connections} connections, "
                f"{run_seconds:g} s (run {round_index + 1} of {plan.paired_rounds})"
            )
            results[variant].append(
                run_wrk(
                    session,
                    wrk.WrkLoad(
                        session.url(load.paths[0]),
                        script[variant],
                        plan.read_connections,
                        plan.wrk_threads,
                        run_seconds,
                    ),
                    load.min_body,
                )
            )
    figures: Figures = {}
    for variant, runs in results.items():
        figures[f"{load.key}-{variant}"] = sum(r.requests for r in runs) / sum(
            r.seconds for r in runs
        )
        figures[f"{load.key}-{variant}-p99"] = max(r.p99_ms for r in runs)
    ratio = figures[f"{load.key}-token"] / figures[f"{load.key}-anon"]
    figures[f"{load.key}-token-ratio"] = ratio
    session.say(
        f"  {load.title}: anonymous {figures[f'{load.key}-anon']:.0f} req/s, bearer token "
        f"{figures[f'{load.key}-token']:.0f} req/s, ratio {ratio:.3f}"
        + ("" if token else " (no authentication: both anonymous)")
    )
    return figures
