"""Artifacts and tags through /api/v2.0, with content pushed and pulled through /v2/."""

from __future__ import annotations

from typing import Any

import httpx

from dockyard.registry import Registry
from tests.api.conftest import DEVELOPER, GUEST, MAINTAINER, MemberClient
from tests.oci.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    encode,
    push_blob,
    push_image,
    put_manifest,
)

API = "/api/v2.0"
ARTIFACTS = f"{API}/projects/app/repositories/web/artifacts"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


async def push_referrer(
    client: httpx.AsyncClient, name: str, subject: dict[str, Any], payload: bytes = b"sig"
) -> str:
    """Push a signature whose subject is ``subject``; returns its digest."""
    await push_blob(client, name, b"{}")
    await push_blob(client, name, payload)
    body = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE,
            "config": descriptor(EMPTY, b"{}"),
            "layers": [descriptor("application/octet-stream", payload)],
            "subject": subject,
        }
    )
    r = await put_manifest(client, name, digest_of(body), body)
    assert r.status_code == 201, r.text
    return digest_of(body)


async def push_index(
    client: httpx.AsyncClient, name: str, tag: str
) -> tuple[str, bytes, list[str]]:
    """Push two images by digest and an index of them under ``tag``; returns the index's
    digest and bytes and the children's digests."""
    children = []
    for arch in ("amd64", "arm64"):
        config = f'{{"architecture":"{arch}","os":"linux"}}'.encode()
        digest, body = await push_image(
            client, name, "tmp", config=config, layers=(f"layer-{arch}".encode(),)
        )
        children.append((digest, body, arch))
    assert (await client.delete(f"/v2/{name}/manifests/tmp")).status_code == 202
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, body, platform={"architecture": arch, "os": "linux"})
                for _, body, arch in children
            ],
        }
    )
    r = await put_manifest(client, name, tag, index, OCI_INDEX)
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"], index, [d for d, _, _ in children]


# --- listing ------------------------------------------------------------------------------


async def test_list_shows_artifacts_with_their_tags_newest_first(
    client: httpx.AsyncClient,
) -> None:
    first, _ = await push_image(client, "app/web", "v1")
    assert (await put_manifest(client, "app/web", "stable", _)).status_code == 201
    second, _ = await push_image(client, "app/web", "v2", layers=(b"second",))
    r = await client.get(ARTIFACTS)
    assert r.status_code == 200, r.text
    assert r.headers["X-Total-Count"] == "2"
    listed = r.json()
    assert [a["digest"] for a in listed] == [second, first]
    assert [t["name"] for t in listed[1]["tags"]] == ["stable", "v1"]
    artifact = listed[1]
    assert artifact["type"] == "image"
    assert artifact["manifest_media_type"] == OCI_MANIFEST
    assert artifact["media_type"] == "application/vnd.oci.image.config.v1+json"
    assert artifact["repository_name"] == "app/web"
    assert artifact["pull_time"] is None
    assert artifact["size"] > 0
    assert artifact["accessories"] == []
    assert artifact["tags"][0]["artifact_id"] == artifact["id"]


async def test_list_filters_by_kind_tag_and_taggedness(client: httpx.AsyncClient) -> None:
    tagged, _ = await push_image(client, "app/web", "v1")
    untagged, _ = await push_image(client, "app/web", "v2", layers=(b"two",))
    assert (await client.delete("/v2/app/web/manifests/v2")).status_code == 202

    async def digests(**params: str) -> list[str]:
        r = await client.get(ARTIFACTS, params=params)
        assert r.status_code == 200, r.text
        return [a["digest"] for a in r.json()]

    assert await digests(untagged="true") == [untagged]
    assert await digests(untagged="false") == [tagged]
    assert await digests(tag="v1") == [tagged]
    assert await digests(tag="v2") == []
    assert await digests(type="image") == [untagged, tagged]
    assert await digests(type="IMAGE") == [untagged, tagged]
    assert await digests(type="chart") == []
    r = await client.get(ARTIFACTS, params={"type": "spaceship"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"


async def test_list_pages(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await push_image(client, "app/web", f"v{n}", layers=(f"layer {n}".encode(),))
    r = await client.get(ARTIFACTS, params={"page": 1, "page_size": 2})
    assert [a["tags"][0]["name"] for a in r.json()] == ["v2", "v1"]
    assert r.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in r.headers["Link"]
    r = await client.get(ARTIFACTS, params={"page": 2, "page_size": 2})
    assert [a["tags"][0]["name"] for a in r.json()] == ["v0"]


async def test_children_of_an_index_are_its_references_not_artifacts_of_their_own(
    client: httpx.AsyncClient,
) -> None:
    index, _, children = await push_index(client, "app/web", "multi")
    r = await client.get(ARTIFACTS)
    [artifact] = r.json()
    assert artifact["digest"] == index
    assert artifact["type"] == "index"
    assert artifact["media_type"] == OCI_INDEX
    assert [
        (ref["child_digest"], ref["platform"]["architecture"]) for ref in artifact["references"]
    ] == [(children[0], "amd64"), (children[1], "arm64")]
    r = await client.get(f"{API}/projects/app/repositories/web")
    assert r.json()["artifact_count"] == 1
    # A child is still an artifact to read by digest.
    r = await client.get(f"{ARTIFACTS}/{children[0]}")
    assert r.status_code == 200
    assert r.json()["type"] == "image"


# --- one artifact -------------------------------------------------------------------------


async def test_artifact_detail_has_tags_accessories_and_annotations(
    client: httpx.AsyncClient,
) -> None:
    digest, body = await push_image(
        client, "app/web", "v1", annotations={"org.opencontainers.image.title": "web"}
    )
    assert (await put_manifest(client, "app/web", "latest", body)).status_code == 201
    signature = await push_referrer(client, "app/web", descriptor(OCI_MANIFEST, body))
    by_tag = (await client.get(f"{ARTIFACTS}/v1")).json()
    by_digest = (await client.get(f"{ARTIFACTS}/{digest}")).json()
    assert by_tag == by_digest
    assert by_tag["digest"] == digest
    assert by_tag["annotations"] == {"org.opencontainers.image.title": "web"}
    assert [t["name"] for t in by_tag["tags"]] == ["latest", "v1"]
    [accessory] = by_tag["accessories"]
    assert accessory["digest"] == signature
    assert accessory["artifact_type"] == SIGNATURE
    assert accessory["type"] == "signature"
    assert accessory["subject_artifact_id"] == by_tag["id"]
    assert accessory["size"] > 0
    # The signature is shown under its subject, not as an artifact of its own.
    assert [a["digest"] for a in (await client.get(ARTIFACTS)).json()] == [digest]


async def test_unknown_or_invalid_references(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    assert (await client.get(f"{ARTIFACTS}/nope")).status_code == 404
    missing = digest_of(b"missing")
    assert (await client.get(f"{ARTIFACTS}/{missing}")).status_code == 404
    assert (await client.get(f"{ARTIFACTS}/sha256:xyz")).status_code == 400
    assert (await client.get(f"{ARTIFACTS}/bad%20tag")).status_code == 400
    assert (
        await client.get(f"{API}/projects/app/repositories/nothing/artifacts")
    ).status_code == 404
    assert (
        await client.get(f"{API}/projects/nothing/repositories/web/artifacts")
    ).status_code == 404
    r = await client.get(f"{API}/projects/app/repositories/Bad..Name/artifacts")
    assert r.status_code == 400


async def test_delete_by_tag_deletes_the_artifact_with_all_its_tags(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, "app/web", "v1")
    assert (await put_manifest(client, "app/web", "latest", body)).status_code == 201
    kept, _ = await push_image(client, "app/web", "other", layers=(b"other",))
    r = await client.delete(f"{ARTIFACTS}/v1")
    assert r.status_code == 200, r.text
    for reference in ("v1", "latest", digest):
        assert (await client.get(f"/v2/app/web/manifests/{reference}")).status_code == 404
    assert [a["digest"] for a in (await client.get(ARTIFACTS)).json()] == [kept]
    assert (await client.delete(f"{ARTIFACTS}/v1")).status_code == 404
    # The blobs stay for garbage collection.
    assert await registry.store.stat(digest_of(b"layer-one")) is not None
    entries, _ = await registry.events.search(
        operation="delete", resource_type="artifact", offset=0, limit=10
    )
    [entry] = entries
    assert entry.resource == f"app/web@{digest}"
    assert entry.operator == "admin"
    assert entry.project_id == (await registry.projects.get("app")).id
    assert entry.detail == {"tags": ["latest", "v1"]}


async def test_delete_by_digest(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "app/web", "v1")
    assert (await client.delete(f"{ARTIFACTS}/{digest}")).status_code == 200
    assert (await client.get(f"/v2/app/web/manifests/{digest}")).status_code == 404
    assert (await client.get(ARTIFACTS)).json() == []


# --- tags ---------------------------------------------------------------------------------


async def test_tags_are_created_listed_and_deleted(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, "app/web", "v1")
    r = await client.post(f"{ARTIFACTS}/{digest}/tags", json={"name": "v2"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/artifacts/{digest}/tags/v2")
    assert (await client.get("/v2/app/web/manifests/v2")).content == body
    r = await client.get(f"{ARTIFACTS}/v1/tags")
    assert [t["name"] for t in r.json()] == ["v1", "v2"]
    assert r.headers["X-Total-Count"] == "2"
    r = await client.get(f"{ARTIFACTS}/v1/tags", params={"page_size": 1, "page": 2})
    assert [t["name"] for t in r.json()] == ["v2"]

    assert (await client.delete(f"{ARTIFACTS}/v1/tags/v2")).status_code == 200
    assert (await client.get("/v2/app/web/manifests/v2")).status_code == 404
    assert (await client.get(f"/v2/app/web/manifests/{digest}")).status_code == 200
    assert [t["name"] for t in (await client.get(f"{ARTIFACTS}/v1/tags")).json()] == ["v1"]

    created, _ = await registry.events.search(
        operation="create", resource_type="tag", offset=0, limit=10
    )
    deleted, _ = await registry.events.search(
        operation="delete", resource_type="tag", offset=0, limit=10
    )
    assert [e.resource for e in created] == ["app/web:v2"]
    assert [e.resource for e in deleted] == ["app/web:v2"]
    assert created[0].detail == {"digest": digest}


async def test_a_tag_that_exists_is_a_conflict(client: httpx.AsyncClient) -> None:
    first, _ = await push_image(client, "app/web", "v1")
    await push_image(client, "app/web", "v2", layers=(b"two",))
    # On the same artifact, and on another one: Harbor moves no tag.
    r = await client.post(f"{ARTIFACTS}/v1/tags", json={"name": "v1"})
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "CONFLICT"
    assert (await client.post(f"{ARTIFACTS}/v1/tags", json={"name": "v2"})).status_code == 409
    r = await client.get("/v2/app/web/manifests/v2")
    assert r.headers["Docker-Content-Digest"] != first


async def test_tag_errors(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    await push_image(client, "app/web", "v2", layers=(b"two",))
    # v2 exists, but on another artifact.
    assert (await client.delete(f"{ARTIFACTS}/v1/tags/v2")).status_code == 404
    assert (await client.get("/v2/app/web/manifests/v2")).status_code == 200
    assert (await client.delete(f"{ARTIFACTS}/v1/tags/v9")).status_code == 404
    assert (await client.post(f"{ARTIFACTS}/v9/tags", json={"name": "x"})).status_code == 404
    for bad in ({"name": "no spaces"}, {"name": ""}, {"name": "x" * 129}, {}):
        r = await client.post(f"{ARTIFACTS}/v1/tags", json=bad)
        assert r.status_code == 400, (bad, r.text)


# --- copy ---------------------------------------------------------------------------------


async def test_copy_by_digest(client: httpx.AsyncClient, registry: Registry) -> None:
    digest, body = await push_image(client, "source/app", "v1", layers=(b"l1", b"l2"))
    r = await client.post(
        f"{API}/projects/target/repositories/app/artifacts", params={"from": f"source/app@{digest}"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{API}/projects/target/repositories/app/artifacts/{digest}"
    r = await client.get(f"/v2/target/app/manifests/{digest}")
    assert r.content == body
    for layer in (b"l1", b"l2"):
        assert (await client.get(f"/v2/target/app/blobs/{digest_of(layer)}")).content == layer
    # By digest: the copy carries no tag.
    assert (await client.get("/v2/target/app/tags/list")).json()["tags"] == []
    entries, _ = await registry.events.search(
        operation="create", resource_type="artifact", offset=0, limit=10
    )
    assert [e.resource for e in entries] == [f"target/app@{digest}"]
    assert entries[0].detail == {"from": f"source/app@{digest}", "digest": digest}
    assert entries[0].project_id == (await registry.projects.get("target")).id


async def test_copy_by_tag_tags_the_copy(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "source/app", "v1")
    r = await client.post(
        f"{API}/projects/target/repositories/team%252Fapp/artifacts",
        params={"from": "source/app:v1"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"].startswith(f"{API}/projects/target/repositories/team%252Fapp/")
    r = await client.get("/v2/target/team/app/manifests/v1")
    assert r.content == body
    assert r.headers["Docker-Content-Digest"] == digest


async def test_copy_an_index_with_its_children_and_accessories(
    client: httpx.AsyncClient,
) -> None:
    index, body, children = await push_index(client, "source/app", "multi")
    signature = await push_referrer(client, "source/app", descriptor(OCI_INDEX, body))
    r = await client.post(
        f"{API}/projects/target/repositories/app/artifacts",
        params={"from": "source/app:multi"},
    )
    assert r.status_code == 201, r.text
    assert (await client.get("/v2/target/app/manifests/multi")).content == body
    for child in children:
        r = await client.get(f"/v2/target/app/manifests/{child}")
        assert r.status_code == 200
        layer = next(d["digest"] for d in r.json()["layers"])
        assert (await client.get(f"/v2/target/app/blobs/{layer}")).status_code == 200
    r = await client.get(f"/v2/target/app/referrers/{index}")
    assert [m["digest"] for m in r.json()["manifests"]] == [signature]
    [artifact] = (await client.get(f"{API}/projects/target/repositories/app/artifacts")).json()
    assert artifact["digest"] == index
    assert [a["digest"] for a in artifact["accessories"]] == [signature]


async def test_copy_into_the_same_repository_under_the_tag_it_has(
    client: httpx.AsyncClient,
) -> None:
    digest, _ = await push_image(client, "source/app", "v1")
    r = await client.post(
        f"{API}/projects/source/repositories/app/artifacts", params={"from": "source/app:v1"}
    )
    assert r.status_code == 201
    [artifact] = (await client.get(f"{API}/projects/source/repositories/app/artifacts")).json()
    assert artifact["digest"] == digest


async def test_copy_errors(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "source/app", "v1")
    target = f"{API}/projects/target/repositories/app/artifacts"
    cases = {
        "source/app@sha256:nothex": 400,
        "source/app@v1": 400,
        "source/app": 400,
        "source/app:bad tag": 400,
        "Source/App:v1": 400,
        f"source/app@{digest_of(b'missing')}": 404,
        "source/app:v9": 404,
        "source/nothing:v1": 404,
        f"nothing/app@{digest}": 404,
    }
    for source, status in cases.items():
        r = await client.post(target, params={"from": source})
        assert r.status_code == status, (source, r.text)
    assert (await client.post(target)).status_code == 400
    assert (await client.get("/v2/target/app/tags/list")).status_code == 404


# --- who may ------------------------------------------------------------------------------


async def test_anonymous_callers(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    await push_image(client, "library/web", "v1")
    assert (await anonymous.get(ARTIFACTS)).status_code == 401
    r = await anonymous.get(f"{API}/projects/library/repositories/web/artifacts")
    assert r.status_code == 200
    assert len(r.json()) == 1
    r = await anonymous.delete(f"{API}/projects/library/repositories/web/artifacts/v1")
    assert r.status_code == 401
    assert (await anonymous.get("/v2/library/web/manifests/v1")).status_code == 200


async def test_a_guest_reads_but_may_not_change(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    digest, _ = await push_image(client, "app/web", "v1")
    guest = await member("guest", {"app": GUEST})
    assert (await guest.get(ARTIFACTS)).status_code == 200
    assert (await guest.get(f"{ARTIFACTS}/v1/tags")).status_code == 200
    assert (await guest.delete(f"{ARTIFACTS}/v1")).status_code == 403
    assert (await guest.post(f"{ARTIFACTS}/v1/tags", json={"name": "v2"})).status_code == 403
    assert (await guest.delete(f"{ARTIFACTS}/v1/tags/v1")).status_code == 403
    r = await guest.post(ARTIFACTS, params={"from": f"app/web@{digest}"})
    assert r.status_code == 403
    assert (await client.get("/v2/app/web/manifests/v1")).status_code == 200


async def test_a_developer_tags_but_may_not_delete(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    await push_image(client, "app/web", "v1")
    developer = await member("dev", {"app": DEVELOPER})
    assert (await developer.post(f"{ARTIFACTS}/v1/tags", json={"name": "v2"})).status_code == 201
    assert (await developer.delete(f"{ARTIFACTS}/v1/tags/v2")).status_code == 403
    assert (await developer.delete(f"{ARTIFACTS}/v1")).status_code == 403
    maintainer = await member("keeper", {"app": MAINTAINER})
    assert (await maintainer.delete(f"{ARTIFACTS}/v1/tags/v2")).status_code == 200
    assert (await maintainer.delete(f"{ARTIFACTS}/v1")).status_code == 200


async def test_a_non_member_finds_nothing(client: httpx.AsyncClient, member: MemberClient) -> None:
    await push_image(client, "app/web", "v1")
    stranger = await member("stranger")
    assert (await stranger.get(ARTIFACTS)).status_code == 404
    assert (await stranger.delete(f"{ARTIFACTS}/v1")).status_code == 404


async def test_copy_needs_pull_on_the_source_and_push_on_the_target(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    digest, _ = await push_image(client, "source/app", "v1")
    target = f"{API}/projects/target/repositories/app/artifacts"
    pusher = await member("pusher", {"target": DEVELOPER})
    r = await pusher.post(target, params={"from": f"source/app@{digest}"})
    assert r.status_code == 404  # the source project is not visible to the caller
    reader = await member("reader", {"target": GUEST, "source": GUEST})
    assert (await reader.post(target, params={"from": f"source/app@{digest}"})).status_code == 403
    both = await member("both", {"target": DEVELOPER, "source": GUEST})
    assert (await both.post(target, params={"from": f"source/app@{digest}"})).status_code == 201
    assert (await client.get(f"/v2/target/app/manifests/{digest}")).status_code == 200


# --- the audit log of the data plane ------------------------------------------------------


async def test_pushes_and_deletes_through_v2_are_audited(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, body = await push_image(client, "app/web", "v1")
    r = await put_manifest(client, "app/web", digest, body)
    assert r.status_code == 201
    assert (await client.delete("/v2/app/web/manifests/v1")).status_code == 202
    assert (await client.delete(f"/v2/app/web/manifests/{digest}")).status_code == 202
    project_id = (await registry.projects.get("app")).id
    entries, _ = await registry.events.search(
        project_id=project_id, operator="admin", offset=0, limit=10
    )
    recorded = [(e.operation, e.resource_type, e.resource, e.operator) for e in entries]
    assert recorded == [
        ("delete", "artifact", f"app/web@{digest}", "admin"),
        ("delete", "tag", "app/web:v1", "admin"),
        ("push", "artifact", f"app/web@{digest}", "admin"),
        ("push", "artifact", "app/web:v1", "admin"),
    ]
    assert entries[-1].detail == {"digest": digest}
    assert all(e.client_ip == "127.0.0.1" for e in entries)


async def test_pull_time_and_pull_events_are_recorded_after_a_pull(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, _ = await push_image(client, "library/pulled", "v1")
    url = "/api/v2.0/projects/library/repositories/pulled/artifacts/v1"
    assert (await client.get(url)).json()["pull_time"] is None
    # A HEAD only looks; a GET is a pull.
    await client.head("/v2/library/pulled/manifests/v1")
    await registry.pulls.flush()
    assert (await client.get(url)).json()["pull_time"] is None
    await client.get("/v2/library/pulled/manifests/v1")
    await client.get(f"/v2/library/pulled/manifests/{digest}")
    await registry.pulls.flush()
    assert (await client.get(url)).json()["pull_time"] is not None
    pulls, total = await registry.events.search(operation="pull", offset=0, limit=10)
    assert total == 2
    assert {p.resource for p in pulls} == {"library/pulled:v1", f"library/pulled@{digest}"}
    assert {p.operator for p in pulls} == {"admin"}


async def test_repeated_pulls_in_one_flush_are_one_event_with_a_count(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/busy", "v1")
    for _ in range(3):
        assert (await client.get("/v2/library/busy/manifests/v1")).status_code == 200
    await registry.pulls.flush()
    pulls, total = await registry.events.search(operation="pull", offset=0, limit=10)
    assert total == 1
    assert pulls[0].detail == {"pulls": 3}
