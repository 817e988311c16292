"""/api/v2.0/projects: create, list, read, update, delete; metadata and summary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.access.rbac import Action
from dockyard.access.robots import RobotPermissionSpec
from dockyard.app import create_app
from dockyard.db.migrate import upgrade
from dockyard.registry import Registry
from dockyard.settings import AuthSettings, Settings
from tests.api.conftest import (
    DEVELOPER,
    GUEST,
    LIMITED_GUEST,
    MAINTAINER,
    PROJECT_ADMIN,
    MemberClient,
)
from tests.conftest import TEST_PROJECTS, install
from tests.oci.helpers import push_image
from tests.servers import ADMIN

PROJECTS = "/api/v2.0/projects"


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def create(client: httpx.AsyncClient, name: str, **extra: Any) -> int:
    r = await client.post(PROJECTS, json={"project_name": name, **extra})
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


async def test_a_created_project_reads_back_by_id_and_by_name(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    r = await client.post(PROJECTS, json={"project_name": "web"})
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith(f"{PROJECTS}/")
    by_id = (await client.get(location)).json()
    by_name = (await client.get(f"{PROJECTS}/web")).json()
    assert by_id == by_name
    admin = await registry.users.get("admin")
    assert by_id["project_id"] == int(location.rsplit("/", 1)[1])
    assert by_id["name"] == "web"
    assert by_id["public"] is False
    assert by_id["owner_id"] == admin.id
    assert by_id["repo_count"] == 0
    assert by_id["metadata"] == {"public": "false"}
    assert by_id["storage_limit"] == -1


@pytest.mark.parametrize(
    "body",
    [{"public": True}, {"metadata": {"public": "true"}}],
    ids=["flag", "metadata"],
)
async def test_a_public_project_is_readable_by_anyone(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    await create(client, "open", **body)
    r = await anonymous.get(f"{PROJECTS}/open")
    assert r.status_code == 200, r.text
    assert r.json()["public"] is True
    assert r.json()["metadata"]["public"] == "true"


async def test_a_taken_project_name_is_409(client: httpx.AsyncClient) -> None:
    await create(client, "web")
    r = await client.post(PROJECTS, json={"project_name": "web"})
    assert r.status_code == 409, r.text
    assert error_code(r) == "CONFLICT"
    assert (await client.post(PROJECTS, json={"project_name": "library"})).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"project_name": "Upper"},
        {"project_name": "-dash"},
        {"project_name": "dash-"},
        {"project_name": "two..dots"},
        {"project_name": "has space"},
        {"project_name": "team/app"},
        {"project_name": ""},
        {"project_name": "a" * 256},
        {},
        {"project_name": 7},
        {"project_name": "web", "public": "true"},
        {"project_name": "web", "metadata": {"colour": "red"}},
        {"project_name": "web", "metadata": {"auto_scan": "yes"}},
        {"project_name": "web", "metadata": {"auto_scan": True}},
        {"project_name": "web", "metadata": {"severity": "extreme"}},
        {"project_name": "web", "storage_limit": -2},
        {"project_name": "web", "storage_limit": 2**60},
    ],
    ids=[
        "uppercase",
        "leading-dash",
        "trailing-dash",
        "double-dot",
        "space",
        "slash",
        "empty",
        "too-long",
        "no-name",
        "number-name",
        "public-as-string",
        "unknown-metadata-key",
        "metadata-not-a-flag",
        "metadata-not-a-string",
        "unknown-severity",
        "storage-limit-below-minus-one",
        "storage-limit-beyond-json",
    ],
)
async def test_invalid_projects_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post(PROJECTS, json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"
    r = await client.get(PROJECTS, params={"page_size": 100})
    assert r.headers["X-Total-Count"] == str(len(TEST_PROJECTS) + 1)


@pytest.mark.parametrize("content", [b"{not json", b"[]", b"null"])
async def test_a_body_that_is_not_a_project_object_is_400(
    client: httpx.AsyncClient, content: bytes
) -> None:
    r = await client.post(PROJECTS, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text


async def test_any_user_creates_projects_and_administers_them(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    r = await anonymous.post(PROJECTS, json={"project_name": "web"})
    assert r.status_code == 401
    dev = await member("dev")
    await create(dev, "devs")
    r = await client.get(f"{PROJECTS}/devs/members")
    assert [(m["entity_name"], m["role_id"]) for m in r.json()] == [("dev", PROJECT_ADMIN)]
    assert (await client.get(f"{PROJECTS}/devs")).json()["owner_id"] == (
        await dev.get("/api/v2.0/users/current")
    ).json()["user_id"]
    assert (await dev.put(f"{PROJECTS}/devs", json={"public": True})).status_code == 200


async def test_robots_do_not_create_projects(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    created = await registry.robots.create(
        "ci",
        level="system",
        permissions=[RobotPermissionSpec("*", frozenset({Action.REPOSITORY_PUSH}))],
        duration_days=-1,
    )
    r = await anonymous.post(
        PROJECTS, json={"project_name": "web"}, auth=(created.robot.name, created.secret)
    )
    assert r.status_code == 403, r.text


@pytest.fixture
async def admin_only(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A registry where only system admins create projects: a client without credentials."""
    settings = Settings(
        data_dir=tmp_path / "admin-only", auth=AuthSettings(project_creation="admin")
    )
    settings.data_dir.mkdir(parents=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    await install(registry)
    await registry.users.create("dev", "Dev-Secret-1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        yield c
    await registry.close()


async def test_where_only_admins_create_projects_users_may_not(
    admin_only: httpx.AsyncClient,
) -> None:
    r = await admin_only.post(PROJECTS, json={"project_name": "web"}, auth=("dev", "Dev-Secret-1"))
    assert r.status_code == 403, r.text
    r = await admin_only.post(PROJECTS, json={"project_name": "web"}, auth=ADMIN)
    assert r.status_code == 201, r.text
    r = await admin_only.get("/api/v2.0/systeminfo")
    assert r.json()["project_creation_restriction"] == "adminonly"


async def test_head_tells_whether_a_name_is_taken(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await client.head(PROJECTS, params={"project_name": "team"})).status_code == 200
    assert (await client.head(PROJECTS, params={"project_name": "nothere"})).status_code == 404
    assert (await anonymous.head(PROJECTS, params={"project_name": "team"})).status_code == 401
    assert (await client.head(PROJECTS)).status_code == 400


async def test_the_list_shows_what_each_caller_may_see(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await create(client, "open", public=True)
    guest = await member("guest", {"team": GUEST})
    r = await anonymous.get(PROJECTS, params={"page_size": 100})
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["library", "open"]
    assert r.headers["X-Total-Count"] == "2"
    r = await guest.get(PROJECTS, params={"page_size": 100})
    assert [p["name"] for p in r.json()] == ["library", "open", "team"]
    r = await client.get(PROJECTS, params={"page_size": 100})
    assert r.headers["X-Total-Count"] == str(len(TEST_PROJECTS) + 2)
    assert [p["name"] for p in r.json()] == sorted([*TEST_PROJECTS, "library", "open"])
    r = await client.get(PROJECTS, params={"public": "true"})
    assert [p["name"] for p in r.json()] == ["library", "open"]
    r = await client.get(PROJECTS, params={"name": "o"})
    assert [p["name"] for p in r.json()] == ["no", "open", "other", "source", "zoo"]


async def test_the_list_pages_with_a_total_and_links(client: httpx.AsyncClient) -> None:
    total = len(TEST_PROJECTS) + 1
    r = await client.get(PROJECTS, params={"page": 1, "page_size": 5})
    assert len(r.json()) == 5
    assert r.headers["X-Total-Count"] == str(total)
    assert r.headers["Link"] == f'<{PROJECTS}?page=2&page_size=5>; rel="next"'
    r = await client.get(PROJECTS, params={"page": 3, "page_size": 5})
    assert len(r.json()) == total - 10
    assert r.headers["Link"] == f'<{PROJECTS}?page=2&page_size=5>; rel="prev"'
    pages = [
        (await client.get(PROJECTS, params={"page": n, "page_size": 5})).json() for n in (1, 2, 3)
    ]
    names = [p["name"] for page in pages for p in page]
    assert names == sorted([*TEST_PROJECTS, "library"])


@pytest.mark.parametrize("params", [{"page": 0}, {"page_size": 101}, {"public": "maybe"}], ids=str)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    r = await client.get(PROJECTS, params=params)
    assert r.status_code == 400, r.text


async def test_a_private_project_is_hidden_from_those_who_may_not_read_it(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    outsider = await member("outsider")
    limited = await member("limited", {"team": LIMITED_GUEST})
    r = await outsider.get(f"{PROJECTS}/team")
    assert r.status_code == 404
    assert error_code(r) == "NOT_FOUND"
    # The answer is the same as for a project that does not exist.
    r2 = await outsider.get(f"{PROJECTS}/nothere")
    assert r2.status_code == 404
    assert (await anonymous.get(f"{PROJECTS}/team")).status_code == 401
    assert (await limited.get(f"{PROJECTS}/team")).status_code == 200
    assert (await client.get(f"{PROJECTS}/nothere")).status_code == 404
    assert (await client.get(f"{PROJECTS}/99999")).status_code == 404


async def test_a_project_named_with_digits_is_found_by_name_on_request(
    client: httpx.AsyncClient,
) -> None:
    project_id = await create(client, "123")
    r = await client.get(f"{PROJECTS}/123", headers={"X-Is-Resource-Name": "true"})
    assert r.status_code == 200
    assert r.json()["project_id"] == project_id
    r = await client.get(f"{PROJECTS}/{project_id}")
    assert r.json()["name"] == "123"


async def test_updates_need_project_admin_and_quotas_need_a_system_admin(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    owner = await member("owner", {"team": PROJECT_ADMIN})
    maintainer = await member("maint", {"team": MAINTAINER})
    outsider = await member("outsider")
    assert (await maintainer.put(f"{PROJECTS}/team", json={"public": True})).status_code == 403
    assert (await outsider.put(f"{PROJECTS}/team", json={"public": True})).status_code == 404
    assert (await anonymous.put(f"{PROJECTS}/team", json={"public": True})).status_code == 401
    assert (await client.get(f"{PROJECTS}/team")).json()["public"] is False
    r = await owner.put(f"{PROJECTS}/team", json={"public": True})
    assert r.status_code == 200, r.text
    assert (await anonymous.get(f"{PROJECTS}/team")).json()["public"] is True
    r = await owner.put(f"{PROJECTS}/team", json={"storage_limit": 1024})
    assert r.status_code == 403
    r = await client.put(f"{PROJECTS}/team", json={"storage_limit": 1024})
    assert r.status_code == 200
    assert (await client.get(f"{PROJECTS}/team")).json()["storage_limit"] == 1024
    # Still public: a project made public becomes readable without credentials.
    assert (await anonymous.get(f"{PROJECTS}/team")).status_code == 200
    r = await owner.put(f"{PROJECTS}/team", json={"metadata": {"public": "false"}})
    assert r.status_code == 200
    assert (await anonymous.get(f"{PROJECTS}/team")).status_code == 401
    assert (await client.put(f"{PROJECTS}/nothere", json={"public": True})).status_code == 404


async def test_metadata_merges_and_refuses_unknown_keys(client: httpx.AsyncClient) -> None:
    url = f"{PROJECTS}/team/metadatas"
    assert (await client.get(url)).json() == {"public": "false"}
    r = await client.put(url, json={"auto_scan": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == {"public": "false", "auto_scan": "true"}
    r = await client.put(f"{PROJECTS}/team", json={"metadata": {"severity": "high"}})
    assert r.status_code == 200
    assert (await client.get(url)).json() == {
        "public": "false",
        "auto_scan": "true",
        "severity": "high",
    }
    for body in ({"colour": "red"}, {"auto_scan": "on"}, {"severity": "extreme"}):
        r = await client.put(url, json=body)
        assert r.status_code == 400, (body, r.text)
        r = await client.put(f"{PROJECTS}/team", json={"metadata": body})
        assert r.status_code == 400, (body, r.text)
    assert (await client.get(url)).json()["severity"] == "high"


async def test_an_empty_project_is_deleted(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    developer = await member("dev", {"team": DEVELOPER})
    outsider = await member("outsider")
    assert (await anonymous.delete(f"{PROJECTS}/team")).status_code == 401
    assert (await outsider.delete(f"{PROJECTS}/team")).status_code == 404
    assert (await developer.delete(f"{PROJECTS}/team")).status_code == 403
    r = await client.delete(f"{PROJECTS}/team")
    assert r.status_code == 200, r.text
    assert (await client.get(f"{PROJECTS}/team")).status_code == 404
    assert (await client.delete(f"{PROJECTS}/team")).status_code == 404
    # The name is free again.
    await create(client, "team")


async def test_a_project_with_repositories_is_not_deleted(client: httpx.AsyncClient) -> None:
    await push_image(client, "team/app", "v1")
    assert (await client.get(f"{PROJECTS}/team")).json()["repo_count"] == 1
    r = await client.delete(f"{PROJECTS}/team")
    assert r.status_code == 409, r.text
    assert error_code(r) == "CONFLICT"
    assert (await client.get(f"{PROJECTS}/team")).status_code == 200
    assert (await client.get("/v2/team/app/manifests/v1")).status_code == 200
    r = await client.delete(f"{PROJECTS}/team/repositories/app")
    assert r.status_code == 200, r.text
    assert (await client.delete(f"{PROJECTS}/team")).status_code == 200


async def test_the_summary_counts_members_by_role(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    for name, role in (("d1", DEVELOPER), ("d2", DEVELOPER), ("g", GUEST), ("m", MAINTAINER)):
        await member(name, {"team": role})
    guest = await member("lg", {"team": LIMITED_GUEST})
    await push_image(client, "team/app", "v1")
    r = await client.get(f"{PROJECTS}/team/summary")
    assert r.status_code == 200
    assert r.json() == {
        "repo_count": 1,
        "project_admin_count": 1,
        "maintainer_count": 1,
        "developer_count": 2,
        "guest_count": 1,
        "limited_guest_count": 1,
        "storage_limit": -1,
        # The pushed image's config and layer, and the image itself.
        "quota": {
            "id": r.json()["quota"]["id"],
            "ref": {"id": r.json()["quota"]["id"], "name": "team"},
            "hard": {"storage": -1, "count": -1},
            "used": {"storage": 37 + 9, "count": 1},
        },
    }
    assert (await guest.get(f"{PROJECTS}/team/summary")).status_code == 200
    assert (await client.get(f"{PROJECTS}/nothere/summary")).status_code == 404
