"""Content discovery: tags list, catalog and the referrers API (spec "Content Discovery")."""

from __future__ import annotations

import random
import re
from typing import Any

import httpx
import pytest

from tests.oci.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
)

NAME = "library/discovery"
EMPTY = "application/vnd.oci.empty.v1+json"
SIGNATURE = "application/vnd.example.signature.v1"
SBOM_CONFIG = "application/vnd.example.sbom.config.v1+json"
_LINK = re.compile(r'^<([^>]+)>;\s*rel="next"$')


async def tag_all(client: httpx.AsyncClient, name: str, tags: list[str]) -> None:
    """Push one image and tag it with every tag, in the order given."""
    _, body = await push_image(client, name, tags[0])
    for tag in tags[1:]:
        r = await put_manifest(client, name, tag, body)
        assert r.status_code == 201, r.text


def next_link(r: httpx.Response) -> str | None:
    link = r.headers.get("Link")
    if link is None:
        return None
    match = _LINK.match(link)
    assert match, link
    return match.group(1)


# --- tags ----------------------------------------------------------------------------------


async def test_tags_are_listed_in_lexical_order(client: httpx.AsyncClient) -> None:
    tags = ["v2", "latest", "1.0", "v10", "alpha", "1.0.1", "v1_final", "beta-2"]
    random.Random(7).shuffle(tags)
    await tag_all(client, NAME, tags)
    r = await client.get(f"/v2/{NAME}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": NAME, "tags": sorted(tags)}


async def test_tag_order_is_case_insensitive(client: httpx.AsyncClient) -> None:
    """The spec defines lexical order as "case-insensitive alphanumeric order"."""
    tags = ["Gamma", "alpha", "delta", "Beta"]
    await tag_all(client, NAME, tags)
    r = await client.get(f"/v2/{NAME}/tags/list")
    assert r.json()["tags"] == ["alpha", "Beta", "delta", "Gamma"]


async def test_tags_pagination_follows_link_header(client: httpx.AsyncClient) -> None:
    tags = ["a", "b", "c", "d", "e"]
    await tag_all(client, NAME, list(reversed(tags)))
    pages: list[list[str]] = []
    url: str | None = f"/v2/{NAME}/tags/list?n=2"
    while url is not None:
        r = await client.get(url)
        assert r.status_code == 200
        page = r.json()["tags"]
        pages.append(page)
        url = next_link(r)
        if url is not None:
            assert len(page) == 2  # fewer than n only on the last page
        assert len(pages) <= 3
    assert pages == [["a", "b"], ["c", "d"], ["e"]]


async def test_tags_n_alone_returns_exactly_n(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "b", "c"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"]
    assert next_link(r) is not None


async def test_tags_last_alone(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "b", "c", "d"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"last": "b"})
    assert r.json()["tags"] == ["c", "d"]


async def test_tags_last_need_not_be_an_existing_tag(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "c", "e"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": 1, "last": "b"})
    assert r.json()["tags"] == ["c"]


async def test_tags_n_and_last(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "b", "c", "d", "e"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c", "d"]


async def test_tags_n_larger_than_the_list(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "b"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": 10})
    assert r.json()["tags"] == ["a", "b"]
    assert "Link" not in r.headers


async def test_tags_n_zero_is_empty_without_link(client: httpx.AsyncClient) -> None:
    await tag_all(client, NAME, ["a", "b"])
    r = await client.get(f"/v2/{NAME}/tags/list", params={"n": 0})
    assert r.status_code == 200
    assert r.json()["tags"] == []
    assert "Link" not in r.headers


async def test_tags_of_a_repository_without_tags(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, b'{"os":"linux"}')
    body = encode(image_manifest(b'{"os":"linux"}', []))
    assert (await put_manifest(client, NAME, digest_of(body), body)).status_code == 201
    r = await client.get(f"/v2/{NAME}/tags/list")
    assert r.status_code == 200
    assert r.json()["name"] == NAME
    assert not r.json()["tags"]


async def test_tags_are_per_repository(client: httpx.AsyncClient) -> None:
    await tag_all(client, "library/a", ["one"])
    await tag_all(client, "library/a/b", ["two"])
    assert (await client.get("/v2/library/a/tags/list")).json()["tags"] == ["one"]
    assert (await client.get("/v2/library/a/b/tags/list")).json()["tags"] == ["two"]


async def test_tags_of_unknown_repository_is_404(client: httpx.AsyncClient) -> None:
    assert_oci_error(await client.get("/v2/no/such/tags/list"), 404, "NAME_UNKNOWN")


# --- catalog -------------------------------------------------------------------------------


async def test_catalog_with_pagination(client: httpx.AsyncClient) -> None:
    names = ["zoo/zebra", "app", "team/web", "team/api", "base"]
    for name in names:
        await push_image(client, name, "v1")
    r = await client.get("/v2/_catalog")
    assert r.status_code == 200
    assert r.json()["repositories"] == sorted(names)

    seen: list[str] = []
    url: str | None = "/v2/_catalog?n=2"
    while url is not None:
        r = await client.get(url)
        page = r.json()["repositories"]
        assert len(page) <= 2
        seen.extend(page)
        url = next_link(r)
        assert len(seen) <= len(names)
    assert seen == sorted(names)


async def test_catalog_n_zero(client: httpx.AsyncClient) -> None:
    await push_image(client, "app", "v1")
    r = await client.get("/v2/_catalog", params={"n": 0})
    assert r.status_code == 200
    assert r.json()["repositories"] == []
    assert "Link" not in r.headers


async def test_catalog_last(client: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        await push_image(client, name, "v1")
    r = await client.get("/v2/_catalog", params={"last": "a"})
    assert r.json()["repositories"] == ["b", "c"]


# --- referrers -----------------------------------------------------------------------------


@pytest.fixture
async def subject(client: httpx.AsyncClient) -> dict[str, Any]:
    """The descriptor of an image that referrers point at."""
    _, body = await push_image(client, NAME, "v1")
    return descriptor(OCI_MANIFEST, body)


async def push_referrer(
    client: httpx.AsyncClient,
    name: str,
    subject: dict[str, Any],
    *,
    artifact_type: str | None = None,
    config_type: str = EMPTY,
    annotations: dict[str, str] | None = None,
    payload: bytes = b"payload",
) -> dict[str, Any]:
    """Push an artifact manifest whose subject is ``subject``; returns its descriptor."""
    config = b"{}" if config_type == EMPTY else b'{"kind":"config"}'
    await push_blob(client, name, config)
    await push_blob(client, name, payload)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": subject,
    }
    if artifact_type:
        document["artifactType"] = artifact_type
    if annotations:
        document["annotations"] = annotations
    body = encode(document)
    r = await put_manifest(client, name, digest_of(body), body)
    assert r.status_code == 201, r.text
    return descriptor(OCI_MANIFEST, body)


def assert_referrers_index(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    manifests: list[dict[str, Any]] = index["manifests"]
    return manifests


async def test_referrers_list_artifacts_with_type_and_annotations(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    signature = await push_referrer(
        client,
        NAME,
        subject,
        artifact_type=SIGNATURE,
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        payload=b"signature",
    )
    # No artifactType: the config's media type stands in for it.
    sbom = await push_referrer(
        client,
        NAME,
        subject,
        config_type=SBOM_CONFIG,
        annotations={"format": "spdx"},
        payload=b"sbom",
    )
    referrers = assert_referrers_index(
        await client.get(f"/v2/{NAME}/referrers/{subject['digest']}")
    )
    by_digest = {d["digest"]: d for d in referrers}
    assert set(by_digest) == {signature["digest"], sbom["digest"]}
    assert by_digest[signature["digest"]] == {
        **signature,
        "artifactType": SIGNATURE,
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    assert by_digest[sbom["digest"]] == {
        **sbom,
        "artifactType": SBOM_CONFIG,
        "annotations": {"format": "spdx"},
    }


async def test_referrer_with_empty_artifact_type_reports_the_config_type(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    await push_blob(client, NAME, b'{"kind":"config"}')
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "",
        "config": descriptor(SBOM_CONFIG, b'{"kind":"config"}'),
        "layers": [],
        "subject": subject,
    }
    r = await put_manifest(client, NAME, digest_of(encode(document)), document)
    assert r.status_code == 201, r.text
    referrers = assert_referrers_index(
        await client.get(f"/v2/{NAME}/referrers/{subject['digest']}")
    )
    assert [d["artifactType"] for d in referrers] == [SBOM_CONFIG]


async def test_referrer_index_without_artifact_type_omits_it(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    child_digest, child_body = await push_image(client, NAME, "child", layers=(b"child",))
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, child_body)],
        "subject": subject,
        "annotations": {"org.example": "index"},
    }
    body = encode(document)
    r = await put_manifest(client, NAME, digest_of(body), body, OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject["digest"]
    referrers = assert_referrers_index(
        await client.get(f"/v2/{NAME}/referrers/{subject['digest']}")
    )
    assert referrers == [{**descriptor(OCI_INDEX, body), "annotations": {"org.example": "index"}}]
    assert child_digest not in {d["digest"] for d in referrers}


async def test_referrers_filtered_by_artifact_type(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    signature = await push_referrer(
        client, NAME, subject, artifact_type=SIGNATURE, payload=b"signature"
    )
    await push_referrer(
        client, NAME, subject, artifact_type="application/spdx+json", payload=b"sbom"
    )
    r = await client.get(
        f"/v2/{NAME}/referrers/{subject['digest']}", params={"artifactType": SIGNATURE}
    )
    referrers = assert_referrers_index(r)
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in referrers] == [signature["digest"]]

    r = await client.get(
        f"/v2/{NAME}/referrers/{subject['digest']}",
        params={"artifactType": "application/vnd.example.none"},
    )
    assert assert_referrers_index(r) == []
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


async def test_referrers_without_filter_have_no_filter_header(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    r = await client.get(f"/v2/{NAME}/referrers/{subject['digest']}")
    assert_referrers_index(r)
    assert "OCI-Filters-Applied" not in r.headers


async def test_no_referrers_is_an_empty_index(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    assert (
        assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{subject['digest']}")) == []
    )
    unknown = digest_of(b"not a manifest here")
    assert assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{unknown}")) == []


async def test_referrers_pushed_before_their_subject(client: httpx.AsyncClient) -> None:
    config, layer = b'{"os":"linux","late":true}', b"late layer"
    body = encode(image_manifest(config, [layer]))
    subject = descriptor(OCI_MANIFEST, body)
    referrer = await push_referrer(client, NAME, subject, artifact_type=SIGNATURE)
    listed = assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{subject['digest']}"))
    assert [d["digest"] for d in listed] == [referrer["digest"]]
    await push_blob(client, NAME, config)
    await push_blob(client, NAME, layer)
    assert (await put_manifest(client, NAME, "late", body)).status_code == 201
    listed = assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{subject['digest']}"))
    assert [d["digest"] for d in listed] == [referrer["digest"]]


async def test_referrers_of_another_repository_are_not_listed(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    await push_referrer(client, "library/elsewhere", subject, artifact_type=SIGNATURE)
    listed = assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{subject['digest']}"))
    assert listed == []


async def test_deleted_referrer_is_no_longer_listed(
    client: httpx.AsyncClient, subject: dict[str, Any]
) -> None:
    referrer = await push_referrer(client, NAME, subject, artifact_type=SIGNATURE)
    r = await client.delete(f"/v2/{NAME}/manifests/{referrer['digest']}")
    assert r.status_code == 202
    listed = assert_referrers_index(await client.get(f"/v2/{NAME}/referrers/{subject['digest']}"))
    assert listed == []


@pytest.mark.parametrize(
    "digest",
    ["notadigest", "sha256:abc", "sha256:" + "g" * 64, "sha256:" + "A" * 64, "sha256"],
)
async def test_referrers_with_invalid_digest_is_400(client: httpx.AsyncClient, digest: str) -> None:
    assert_oci_error(await client.get(f"/v2/{NAME}/referrers/{digest}"), 400, "DIGEST_INVALID")
