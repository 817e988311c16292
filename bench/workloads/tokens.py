"""Token issuance: how many bearer tokens the token endpoint hands out per second.

Each request is what ``docker pull`` sends before its first /v2 request: ``GET``
the challenge's realm with Basic credentials and one repository scope. The
endpoint checks the credentials (remembered after the first check), grants the
scope against the project's roles and signs a token. Distribution runs without
authentication, so this row is dockyard's alone.
"""

from __future__ import annotations

from bench import auth, wrk
from bench.client import RegistryClient
from bench.errors import BenchError
from bench.plan import Plan
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session
from bench.targets import DOCKYARD_TARGETS, PRIVATE_PROJECT
from bench.workloads.checked import run_wrk

_REPOSITORY = f"{PRIVATE_PROJECT}/token"


def _rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "token",
            f"Token issuance, Basic credentials, 1 scope, {plan.read_connections} connections, "
            f"{plan.read_seconds:g} s (wrk)",
            "tokens/s",
            "higher",
        ),
        RowSpec("token-p99", "Token issuance p99 latency", "ms", "lower"),
    ]


def _run(session: Session) -> Figures:
    endpoint = session.token_endpoint
    credentials = session.target.credentials
    if endpoint is None or credentials is None:
        raise BenchError(f"{session.target.title} has no token endpoint")
    scopes = [auth.pull_push(_REPOSITORY)]
    # One by hand first: the token must be granted the scope, which a push start needs.
    token = auth.fetch(endpoint, credentials, scopes)
    with RegistryClient(session.target.host, session.target.port, token.header) as client:
        client.start_upload(_REPOSITORY)
    plan = session.plan
    path = endpoint.query(scopes)
    session.say(f"token issuance: {plan.read_connections} connections, {plan.read_seconds:g} s")
    result = run_wrk(
        session,
        wrk.WrkLoad(
            f"http://{endpoint.host}:{endpoint.port}{path}",
            wrk.request_script("GET", [path], {"Authorization": credentials.basic}),
            plan.read_connections,
            plan.wrk_threads,
            plan.read_seconds,
        ),
        len(token.value),
    )
    return {"token": result.rate, "token-p99": result.p99_ms}


TOKEN = Workload(
    "token",
    "bearer tokens issued per second with Basic credentials, 64 connections, wrk (dockyard)",
    _rows,
    _run,
    targets=DOCKYARD_TARGETS,
)
