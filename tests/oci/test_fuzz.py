"""Random input at every endpoint: whatever arrives, the answer is never a 5xx.

A 4xx must also have the shape of the spec's error JSON (unless it answers a HEAD);
which codes appear is checked, request by request, in test_bad_input.py.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.oci.helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    digest_of,
    push_blob,
    start_upload,
)

NAME = "fuzz/repo"
CONFIG = b'{"os":"linux"}'
LAYER = b"fuzz layer"
KNOWN = [(OCI_CONFIG, CONFIG), (OCI_LAYER, LAYER)]
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.empty.v1+json",
]

# The client fixture is per test, not per example: state piling up between examples is
# more input, not a problem.
fuzz = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
digest_strings = st.one_of(
    st.sampled_from([digest_of(CONFIG), digest_of(LAYER), digest_of(b"absent")]),
    st.builds(lambda h: f"sha256:{h}", st.text("0123456789abcdefABC", min_size=60, max_size=68)),
    st.builds(lambda h: f"sha512:{h}", st.text("0123456789abcdef", min_size=126, max_size=130)),
    st.text(max_size=80),
)
# Descriptors of the blobs that exist, with their true sizes, so that documents get past
# the reference checks and into storage too.
known_descriptors = st.sampled_from(KNOWN).map(
    lambda pair: {"mediaType": pair[0], "digest": digest_of(pair[1]), "size": len(pair[1])}
)
random_descriptors = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.one_of(st.sampled_from([*MANIFEST_TYPES, OCI_LAYER]), json_values),
        "digest": st.one_of(digest_strings, json_values),
        "size": st.one_of(st.integers(min_value=-2, max_value=2**70), json_values),
        "urls": st.one_of(st.lists(st.text(max_size=20), max_size=2), json_values),
        "artifactType": st.one_of(st.text(max_size=30), json_values),
        "platform": json_values,
        "annotations": st.one_of(
            st.dictionaries(st.text(max_size=8), st.text(max_size=8)), json_values
        ),
    },
)
descriptors = st.one_of(known_descriptors, random_descriptors, json_values)
manifest_documents = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.one_of(st.just(2), json_values),
        "mediaType": st.one_of(st.sampled_from(MANIFEST_TYPES), json_values),
        "artifactType": st.one_of(st.text(max_size=30), json_values),
        "config": descriptors,
        "layers": st.one_of(st.lists(descriptors, max_size=3), json_values),
        "manifests": st.one_of(st.lists(descriptors, max_size=3), json_values),
        "subject": descriptors,
        "annotations": st.one_of(
            st.dictionaries(st.text(max_size=8), st.text(max_size=8)), json_values
        ),
    },
)
# Nearly valid: real blobs, random extras. Many of these are stored.
annotation_maps = st.dictionaries(st.text(max_size=12), st.text(max_size=24), max_size=3)
plausible_documents = st.fixed_dictionaries(
    {
        "schemaVersion": st.just(2),
        "mediaType": st.sampled_from([OCI_MANIFEST, DOCKER_MANIFEST]),
        "config": known_descriptors,
        "layers": st.lists(known_descriptors, max_size=3),
    },
    optional={
        "artifactType": st.text(max_size=60),
        "subject": st.one_of(known_descriptors, random_descriptors),
        "annotations": annotation_maps,
    },
)
manifest_bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    manifest_documents.map(lambda d: json.dumps(d).encode()),
    plausible_documents.map(lambda d: json.dumps(d).encode()),
)
# Printable ASCII without line breaks: what can travel in a header value.
HEADER_CHARS = "".join(c for c in string.printable if c not in "\r\n\x0b\x0c")
header_text = st.text(alphabet=HEADER_CHARS, max_size=40)
content_types = st.one_of(st.none(), st.sampled_from(MANIFEST_TYPES), header_text)
names = st.text(alphabet=string.ascii_letters + string.digits + "._-/ %:@~+é", max_size=300)
references = st.one_of(
    st.text(max_size=140), digest_strings, st.text(string.ascii_letters + "._-", max_size=140)
)
content_ranges = st.one_of(
    header_text,
    st.builds(
        lambda a, b: f"{a}-{b}",
        st.integers(min_value=-5, max_value=2**70),
        st.integers(min_value=-5, max_value=2**70),
    ),
)


def assert_handled(r: httpx.Response) -> None:
    """Not a server error; and a client error has the shape of the spec's error JSON."""
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
    if r.status_code >= 400 and r.request.method != "HEAD":
        body = r.json()
        assert body["errors"], body
        for error in body["errors"]:
            assert re.fullmatch(r"[A-Z_]+", error["code"]), (r.request.url, error)


async def _known_blobs(client: httpx.AsyncClient) -> None:
    for _, content in KNOWN:
        await push_blob(client, NAME, content)


@fuzz
@given(body=manifest_bodies, content_type=content_types, by_digest=st.booleans())
async def test_random_manifests(
    client: httpx.AsyncClient, body: bytes, content_type: str | None, by_digest: bool
) -> None:
    await _known_blobs(client)
    reference = digest_of(body) if by_digest else "latest"
    headers = {"Content-Type": content_type} if content_type is not None else {}
    r = await client.put(f"/v2/{NAME}/manifests/{reference}", content=body, headers=headers)
    assert_handled(r)
    event(f"status {r.status_code}")
    if r.status_code == 201:
        # Whatever was accepted can be pulled back, byte for byte.
        pulled = await client.get(f"/v2/{NAME}/manifests/{r.headers['Docker-Content-Digest']}")
        assert pulled.status_code == 200
        assert pulled.content == body


@fuzz
@given(name=names)
async def test_random_repository_names(client: httpx.AsyncClient, name: str) -> None:
    path = f"/v2/{quote(name, safe='/')}"
    some = digest_of(b"x")
    for method, suffix, kwargs in (
        ("GET", "tags/list", {}),
        ("GET", "manifests/latest", {}),
        ("HEAD", "manifests/latest", {}),
        ("PUT", "manifests/latest", {"content": b"{}"}),
        ("GET", f"blobs/{some}", {}),
        ("DELETE", f"blobs/{some}", {}),
        ("POST", "blobs/uploads/", {"params": {"mount": some, "from": name}}),
        ("GET", f"referrers/{some}", {}),
    ):
        assert_handled(await client.request(method, f"{path}/{suffix}", **kwargs))


@fuzz
@given(reference=references, method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE"]))
async def test_random_manifest_references(
    client: httpx.AsyncClient, reference: str, method: str
) -> None:
    r = await client.request(
        method,
        f"/v2/{NAME}/manifests/{quote(reference, safe='')}",
        content=b'{"schemaVersion":2}' if method == "PUT" else None,
    )
    assert_handled(r)


@fuzz
@given(digest=digest_strings)
async def test_random_digests(client: httpx.AsyncClient, digest: str) -> None:
    await _known_blobs(client)
    quoted = quote(digest, safe="")
    for method, path, kwargs in (
        ("GET", f"blobs/{quoted}", {}),
        ("HEAD", f"blobs/{quoted}", {}),
        ("GET", f"referrers/{quoted}", {"params": {"artifactType": "x"}}),
        ("POST", "blobs/uploads/", {"params": {"digest": digest}, "content": b"abc"}),
        ("POST", "blobs/uploads/", {"params": {"mount": digest, "from": NAME}}),
    ):
        assert_handled(await client.request(method, f"/v2/{NAME}/{path}", **kwargs))
    location = await start_upload(client, NAME)
    assert_handled(await client.put(location, params={"digest": digest}, content=b"abc"))


@fuzz
@given(content_range=content_ranges, chunk=st.binary(max_size=64), closing=st.booleans())
async def test_random_content_ranges(
    client: httpx.AsyncClient, content_range: str, chunk: bytes, closing: bool
) -> None:
    location = await start_upload(client, NAME)
    headers = {"Content-Range": content_range}
    if closing:
        r = await client.put(
            location, params={"digest": digest_of(chunk)}, content=chunk, headers=headers
        )
    else:
        r = await client.patch(location, content=chunk, headers=headers)
    assert_handled(r)


@fuzz
@given(
    blob_range=header_text,
    n=st.one_of(st.none(), header_text),
    last=st.one_of(st.none(), header_text),
)
async def test_random_ranges_and_pages(
    client: httpx.AsyncClient, blob_range: str, n: str | None, last: str | None
) -> None:
    await _known_blobs(client)
    r = await client.get(f"/v2/{NAME}/blobs/{digest_of(LAYER)}", headers={"Range": blob_range})
    assert_handled(r)
    if r.status_code in (200, 206):
        assert r.content in LAYER
    params: dict[str, Any] = {k: v for k, v in (("n", n), ("last", last)) if v is not None}
    assert_handled(await client.get(f"/v2/{NAME}/tags/list", params=params))
    assert_handled(await client.get("/v2/_catalog", params=params))
