"""Repositories through /api/v2.0, with content pushed through /v2/."""

from __future__ import annotations

from datetime import datetime

import httpx

from dockyard.registry import Registry
from tests.api.conftest import GUEST, MAINTAINER, MemberClient
from tests.oci.helpers import digest_of, push_image

API = "/api/v2.0"


async def test_a_project_lists_its_repositories_with_their_artifact_counts(
    client: httpx.AsyncClient,
) -> None:
    await push_image(client, "app/web", "v1")
    await push_image(client, "app/web", "v2", layers=(b"two",))
    await push_image(client, "app/team/api", "v1")
    await push_image(client, "other/web", "v1")
    r = await client.get(f"{API}/projects/app/repositories")
    assert r.status_code == 200, r.text
    assert r.headers["X-Total-Count"] == "2"
    listed = r.json()
    assert [(x["name"], x["artifact_count"]) for x in listed] == [
        ("app/team/api", 1),
        ("app/web", 2),
    ]
    project_id = (await client.get(f"{API}/projects/app")).json()["project_id"]
    assert {x["project_id"] for x in listed} == {project_id}
    for repository in listed:
        assert datetime.fromisoformat(repository["update_time"]) >= datetime.fromisoformat(
            repository["creation_time"]
        )
    r = await client.get(f"{API}/projects/app/repositories", params={"name": "team"})
    assert [x["name"] for x in r.json()] == ["app/team/api"]
    r = await client.get(f"{API}/projects/app/repositories", params={"page_size": 1})
    assert [x["name"] for x in r.json()] == ["app/team/api"]
    assert 'rel="next"' in r.headers["Link"]


async def test_update_time_follows_pushes(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    before = (await client.get(f"{API}/projects/app/repositories/web")).json()
    await push_image(client, "app/web", "v2", layers=(b"two",))
    after = (await client.get(f"{API}/projects/app/repositories/web")).json()
    assert after["creation_time"] == before["creation_time"]
    assert datetime.fromisoformat(after["update_time"]) > datetime.fromisoformat(
        before["update_time"]
    )
    assert after["artifact_count"] == 2


async def test_one_repository_by_its_name_inside_the_project(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/team/api", "v1")
    # Harbor's clients encode the slashes of the name twice.
    r = await client.get(f"{API}/projects/app/repositories/team%252Fapi")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "app/team/api"
    assert r.json()["artifact_count"] == 1
    r = await client.get(f"{API}/projects/app/repositories/team%252Fapi/artifacts/v1")
    assert r.status_code == 200
    assert r.json()["repository_name"] == "app/team/api"
    assert (await client.get(f"{API}/projects/app/repositories/team")).status_code == 404
    assert (await client.get(f"{API}/projects/app/repositories/UPPER")).status_code == 400
    assert (await client.get(f"{API}/projects/nope/repositories/api")).status_code == 404


async def test_all_repositories_the_caller_may_see(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    for name in ("app/web", "other/web", "library/web"):
        await push_image(client, name, "v1")

    async def names(caller: httpx.AsyncClient) -> list[str]:
        r = await caller.get(f"{API}/repositories")
        assert r.status_code == 200, r.text
        assert r.headers["X-Total-Count"] == str(len(r.json()))
        return [x["name"] for x in r.json()]

    assert await names(client) == ["app/web", "library/web", "other/web"]
    assert await names(anonymous) == ["library/web"]
    assert await names(await member("guest", {"app": GUEST})) == ["app/web", "library/web"]


async def test_delete_a_repository_with_its_artifacts_and_tags(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digest, _ = await push_image(client, "app/team/api", "v1")
    await push_image(client, "app/web", "v1")
    r = await client.delete(f"{API}/projects/app/repositories/team%252Fapi")
    assert r.status_code == 200, r.text
    assert (await client.get("/v2/app/team/api/manifests/v1")).status_code == 404
    assert (await client.get(f"/v2/app/team/api/manifests/{digest}")).status_code == 404
    assert (await client.get("/v2/app/team/api/tags/list")).status_code == 404
    r = await client.get(f"{API}/projects/app/repositories")
    assert [x["name"] for x in r.json()] == ["app/web"]
    assert (await client.delete(f"{API}/projects/app/repositories/team%252Fapi")).status_code == 404
    # The blobs stay in storage until garbage collection.
    assert await registry.store.stat(digest_of(b"layer-one")) is not None
    entries, _ = await registry.events.search(
        operation="delete", resource_type="repository", offset=0, limit=10
    )
    assert [(e.resource, e.operator) for e in entries] == [("app/team/api", "admin")]
    assert entries[0].project_id == (await registry.projects.get("app")).id
    # The name is free again.
    await push_image(client, "app/team/api", "v2", layers=(b"new",))
    r = await client.get(f"{API}/projects/app/repositories/team%252Fapi/artifacts")
    assert [a["tags"][0]["name"] for a in r.json()] == ["v2"]


async def test_an_empty_project_can_be_deleted_after_its_repositories(
    client: httpx.AsyncClient,
) -> None:
    await push_image(client, "zoo/web", "v1")
    assert (await client.delete(f"{API}/projects/zoo")).status_code == 409
    assert (await client.delete(f"{API}/projects/zoo/repositories/web")).status_code == 200
    assert (await client.delete(f"{API}/projects/zoo")).status_code == 200


async def test_who_may_read_and_delete_repositories(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await push_image(client, "app/web", "v1")
    assert (await anonymous.get(f"{API}/projects/app/repositories")).status_code == 401
    assert (await anonymous.delete(f"{API}/projects/app/repositories/web")).status_code == 401
    stranger = await member("stranger")
    assert (await stranger.get(f"{API}/projects/app/repositories")).status_code == 404
    guest = await member("guest", {"app": GUEST})
    assert (await guest.get(f"{API}/projects/app/repositories/web")).status_code == 200
    assert (await guest.delete(f"{API}/projects/app/repositories/web")).status_code == 403
    maintainer = await member("keeper", {"app": MAINTAINER})
    assert (await maintainer.delete(f"{API}/projects/app/repositories/web")).status_code == 200
    assert (await client.get(f"{API}/projects/app/repositories/web")).status_code == 404
