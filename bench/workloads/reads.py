"""Small reads under wrk: GET /v2/, manifest GET by tag, blob HEAD, tags/list.

The repository read lives in dockyard's public ``library`` project, so that
manifest GET and blob HEAD can be measured both anonymously and with a bearer
token on the same data (``paired.py``); GET /v2/ and tags/list carry the token,
as a client's would. Before each wrk run one request is checked by hand
(status, body, for each variant), and after it the average response size must
cover the expected body.
"""

from __future__ import annotations

from bench import images, wrk
from bench.errors import BenchError, RequestFailed
from bench.plan import Plan
from bench.rows import Figures, RowSpec, Workload
from bench.session import Session
from bench.targets import store_in_distribution_bucket
from bench.workloads import paired
from bench.workloads.checked import run_wrk

_REPOSITORY = "library/bench-reads"
_EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _tagged(session: Session) -> images.TaggedRepository:
    def seed() -> images.TaggedRepository:
        plan = session.plan
        session.say(f"seeding {_REPOSITORY} with {plan.manifests} tags (not timed)")
        with session.client(_REPOSITORY) as client:
            blobs = images.push_image_blobs(client, _REPOSITORY, session.source, 6_100_000)
            return images.seed(
                client, _REPOSITORY, blobs, plan.manifests, plan.manifest_connections
            )

    return session.once("tagged-repository", seed)


def _base_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "base",
            f"GET /v2/ (no storage: per-request overhead), bearer token, "
            f"{plan.read_connections} connections, {plan.read_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("base-p99", "GET /v2/ p99 latency", "ms", "lower"),
    ]


def _base(session: Session) -> Figures:
    plan = session.plan
    # dockyard answers GET /v2/ only to a caller with credentials, as Docker's protocol says.
    token = session.authorization(_REPOSITORY)
    with session.client(_REPOSITORY) as client:
        _, body = client.get("/v2/", "application/json")
    session.say(f"GET /v2/: {plan.read_connections} connections, {plan.read_seconds:g} s")
    result = run_wrk(
        session,
        wrk.WrkLoad(
            session.url("/v2/"),
            wrk.request_script("GET", ["/v2/"], token),
            plan.read_connections,
            plan.wrk_threads,
            plan.read_seconds,
        ),
        len(body),
    )
    return {"base": result.rate, "base-p99": result.p99_ms}


def _manifest_get(session: Session) -> Figures:
    repository = _tagged(session)
    first = repository.tags[0]
    path = f"/v2/{_REPOSITORY}/manifests/{first}"
    for client in (session.anonymous_client(), session.client(_REPOSITORY)):
        with client:
            response, body = client.get(path, images.MANIFEST_TYPE)
        if body != repository.manifests[first]:
            raise BenchError(f"GET manifest {first} answered another body")
        media_type = response.getheader("Content-Type") or ""
        if media_type.split(";")[0] != images.MANIFEST_TYPE:
            raise BenchError(f"GET manifest {first} answered {media_type}")
    load = paired.PairedLoad(
        "manifest-get",
        "Manifest GET by tag",
        "GET",
        [f"/v2/{_REPOSITORY}/manifests/{name}" for name in repository.tags],
        {"Accept": images.MANIFEST_TYPE},
        min(len(body) for body in repository.manifests.values()),
    )
    return paired.run(session, load, session.authorization(_REPOSITORY))


def _blob_head(session: Session) -> Figures:
    path = f"/v2/{_REPOSITORY}/blobs/{_EMPTY_DIGEST}"
    with session.client(_REPOSITORY) as client:
        # wrk waits for a body after a HEAD answer with a non-zero Content-Length, so the
        # HEAD row asks about the 0-byte blob; the lookup is the same for any size. Distribution
        # 2.8 cannot push that one to S3: the bench puts it where a push would, and says so.
        try:
            client.push_bytes(_REPOSITORY, b"")
        except RequestFailed as error:
            if session.target.key != "distribution-s3" or session.s3 is None:
                raise
            session.say(f"  pushing the 0-byte blob failed: {error}")
            session.remark(
                "blob-head: pushing the 0-byte blob answered 500 (Distribution 2.8's s3 driver "
                "completes a multipart upload without parts, which S3 refuses as MalformedXML: "
                "distribution/distribution#3763, fixed after 2.8), so the bench wrote it into "
                "the bucket where a push would have (its data and the repository's layer link) "
                "before the HEAD runs"
            )
            store_in_distribution_bucket(session.s3, _REPOSITORY, b"")
    for client in (session.anonymous_client(), session.client(_REPOSITORY)):
        with client:
            if client.head_blob(_REPOSITORY, _EMPTY_DIGEST) != 0:
                raise BenchError("HEAD of the empty blob did not answer Content-Length: 0")
    load = paired.PairedLoad("blob-head", "Blob HEAD", "HEAD", [path], {}, 0)
    return paired.run(session, load, session.authorization(_REPOSITORY))


def _tags_list_rows(plan: Plan) -> list[RowSpec]:
    return [
        RowSpec(
            "tags-list",
            f"tags/list of {plan.manifests} tags, bearer token, {plan.tags_connections} "
            f"connections, {plan.tags_seconds:g} s (wrk)",
            "req/s",
            "higher",
        ),
        RowSpec("tags-list-p99", "tags/list p99 latency", "ms", "lower"),
    ]


def _tags_list(session: Session) -> Figures:
    repository = _tagged(session)
    plan = session.plan
    path = f"/v2/{_REPOSITORY}/tags/list"
    with session.client(_REPOSITORY) as client:
        images.check_tags(client, _REPOSITORY, repository.tags)
        _, body = client.get(path, "application/json")
        headers = {"Accept": "application/json", **client.headers}
    session.say(f"tags/list: {plan.tags_connections} connections, {plan.tags_seconds:g} s")
    result = run_wrk(
        session,
        wrk.WrkLoad(
            session.url(path),
            wrk.request_script("GET", [path], headers),
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
    "manifest GET by tag req/s and p99, anonymous and with a bearer token, 64 connections, wrk",
    lambda plan: paired.rows("manifest-get", "Manifest GET by tag", plan),
    _manifest_get,
)
BLOB_HEAD = Workload(
    "blob-head",
    "blob HEAD req/s and p99, anonymous and with a bearer token, 64 connections, wrk",
    lambda plan: paired.rows("blob-head", "Blob HEAD", plan),
    _blob_head,
)
TAGS_LIST = Workload(
    "tags-list",
    "tags/list of 2,000 tags req/s and p99, bearer token, wrk",
    _tags_list_rows,
    _tags_list,
)
