"""Small reads under wrk: manifest GET by tag, blob HEAD, tags/list.

Before each wrk run one request is checked by hand (status, body), and after it
the average response size must cover the expected body, so a registry that
answered, say, 304 or an empty 200 cannot pass for a fast one.
"""

from __future__ import annotations

from bench import images, wrk
from bench.errors import BenchError
from bench.plan import Plan
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session

_REPOSITORY = "bench/reads"
_EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _tagged(session: Session) -> images.TaggedRepository:
    def seed() -> images.TaggedRepository:
        plan = session.plan
        session.say(f"seeding {_REPOSITORY} with {plan.manifests} tags (not timed)")
        with session.client() as client:
            blobs = images.push_image_blobs(client, _REPOSITORY, session.source, 6_100_000)
            return images.seed(
                client, _REPOSITORY, blobs, plan.manifests, plan.manifest_connections
            )

    return session.once("tagged-repository", seed)


def _run_wrk(session: Session, load: wrk.WrkLoad, min_body: int) -> wrk.WrkResult:
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


def _base_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "base",
            f"GET /v2/ (no storage: per-request overhead), {plan.read_connections} connections, "
            f"{plan.read_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("base-p99", "GET /v2/ p99 latency", "ms", "lower"),
    ]


def _base(session: Session) -> Figures:
    plan = session.plan
    with session.client() as client:
        _, body = client.get("/v2/", "application/json")
    session.say(f"GET /v2/: {plan.read_connections} connections, {plan.read_seconds:g} s")
    result = _run_wrk(
        session,
        wrk.WrkLoad(
            session.url("/v2/"),
            wrk.request_script("GET", ["/v2/"], {}),
            plan.read_connections,
            plan.wrk_threads,
            plan.read_seconds,
        ),
        len(body),
    )
    return {"base": result.rate, "base-p99": result.p99_ms}


def _manifest_get_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "manifest-get",
            f"Manifest GET by tag, {plan.read_connections} connections, "
            f"{plan.read_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("manifest-get-p99", "Manifest GET by tag p99 latency", "ms", "lower"),
    ]


def _manifest_get(session: Session) -> Figures:
    repository = _tagged(session)
    plan = session.plan
    accept = {"Accept": images.MANIFEST_TYPE}
    first = repository.tags[0]
    with session.client() as client:
        response, body = client.get(f"/v2/{_REPOSITORY}/manifests/{first}", images.MANIFEST_TYPE)
    if body != repository.manifests[first]:
        raise BenchError(f"GET manifest {first} answered another body")
    if (response.getheader("Content-Type") or "").split(";")[0] != images.MANIFEST_TYPE:
        raise BenchError(f"GET manifest {first} answered {response.getheader('Content-Type')}")
    paths = [f"/v2/{_REPOSITORY}/manifests/{name}" for name in repository.tags]
    session.say(
        f"manifest GET by tag: {plan.read_connections} connections, {plan.read_seconds:g} s"
    )
    result = _run_wrk(
        session,
        wrk.WrkLoad(
            session.url(paths[0]),
            wrk.request_script("GET", paths, accept),
            plan.read_connections,
            plan.wrk_threads,
            plan.read_seconds,
        ),
        min(len(body) for body in repository.manifests.values()),
    )
    return {"manifest-get": result.rate, "manifest-get-p99": result.p99_ms}


def _blob_head_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "blob-head",
            f"Blob HEAD, {plan.read_connections} connections, {plan.read_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("blob-head-p99", "Blob HEAD p99 latency", "ms", "lower"),
    ]


def _blob_head(session: Session) -> Figures:
    plan = session.plan
    with session.client() as client:
        # wrk waits for a body after a HEAD answer with a non-zero Content-Length, so the
        # HEAD row asks about the 0-byte blob; the lookup is the same for any size.
        client.push_bytes(_REPOSITORY, b"")
        if client.head_blob(_REPOSITORY, _EMPTY_DIGEST) != 0:
            raise BenchError("HEAD of the empty blob did not answer Content-Length: 0")
    path = f"/v2/{_REPOSITORY}/blobs/{_EMPTY_DIGEST}"
    session.say(f"blob HEAD: {plan.read_connections} connections, {plan.read_seconds:g} s")
    result = _run_wrk(
        session,
        wrk.WrkLoad(
            session.url(path),
            wrk.request_script("HEAD", [path], {}),
            plan.read_connections,
            plan.wrk_threads,
            plan.read_seconds,
        ),
        0,
    )
    return {"blob-head": result.rate, "blob-head-p99": result.p99_ms}


def _tags_list_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "tags-list",
            f"tags/list of {plan.manifests} tags, {plan.tags_connections} connections, "
            f"{plan.tags_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("tags-list-p99", "tags/list p99 latency", "ms", "lower"),
    ]


def _tags_list(session: Session) -> Figures:
    repository = _tagged(session)
    plan = session.plan
    path = f"/v2/{_REPOSITORY}/tags/list"
    with session.client() as client:
        images.check_tags(client, _REPOSITORY, repository.tags)
        _, body = client.get(path, "application/json")
    session.say(f"tags/list: {plan.tags_connections} connections, {plan.tags_seconds:g} s")
    result = _run_wrk(
        session,
        wrk.WrkLoad(
            session.url(path),
            wrk.request_script("GET", [path], {"Accept": "application/json"}),
            plan.tags_connections,
            plan.wrk_threads,
            plan.tags_seconds,
        ),
        len(body),
    )
    return {"tags-list": result.rate, "tags-list-p99": result.p99_ms}


BASE = Workload(
    "base",
    "GET /v2/ req/s and p99, 64 connections, wrk: the floor every request pays",
    _base_rows,
    _base,
)
MANIFEST_GET = Workload(
    "manifest-get",
    "manifest GET by tag req/s and p99, 64 connections, wrk",
    _manifest_get_rows,
    _manifest_get,
)
BLOB_HEAD = Workload(
    "blob-head",
    "blob HEAD req/s and p99, 64 connections, wrk",
    _blob_head_rows,
    _blob_head,
)
TAGS_LIST = Workload(
    "tags-list",
    "tags/list of 2,000 tags req/s and p99, wrk",
    _tags_list_rows,
    _tags_list,
)
