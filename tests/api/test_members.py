"""/api/v2.0/projects/{project}/members: users and groups with a role in a project."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.registry import Registry
from tests.api.conftest import (
    DEVELOPER,
    GUEST,
    LIMITED_GUEST,
    MAINTAINER,
    MEMBER_PASSWORD,
    PROJECT_ADMIN,
    MemberClient,
)
from tests.oci.helpers import push_image

MEMBERS = "/api/v2.0/projects/team/members"


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def add(client: httpx.AsyncClient, body: dict[str, Any], url: str = MEMBERS) -> int:
    r = await client.post(url, json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


async def test_members_are_added_read_and_listed(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    carol = await registry.users.create("carol", MEMBER_PASSWORD)
    dave = await registry.users.create("dave", MEMBER_PASSWORD)
    team = await registry.projects.get("team")
    r = await client.post(
        MEMBERS, json={"role_id": DEVELOPER, "member_user": {"username": "carol"}}
    )
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith(f"/api/v2.0/projects/{team.id}/members/")
    member = (await client.get(location)).json()
    assert member == {
        "id": int(location.rsplit("/", 1)[1]),
        "project_id": team.id,
        "entity_name": "carol",
        "entity_type": "u",
        "entity_id": carol.id,
        "role_id": DEVELOPER,
        "role_name": "developer",
    }
    await add(client, {"role_id": LIMITED_GUEST, "member_user": {"user_id": dave.id}})
    r = await client.get(MEMBERS)
    assert r.status_code == 200
    # The creator of a project administers it.
    assert [(m["entity_name"], m["role_name"]) for m in r.json()] == [
        ("admin", "projectAdmin"),
        ("carol", "developer"),
        ("dave", "limitedGuest"),
    ]
    r = await client.get(MEMBERS, params={"entityname": "ca"})
    assert [m["entity_name"] for m in r.json()] == ["carol"]
    r = await client.get(f"/api/v2.0/projects/{team.id}/members")
    assert len(r.json()) == 3


async def test_a_new_member_gets_the_access_of_the_role(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/app", "v1")
    await registry.users.create("carol", MEMBER_PASSWORD)
    carol = ("carol", MEMBER_PASSWORD)
    assert (await anonymous.get("/v2/team/app/manifests/v1", auth=carol)).status_code == 403
    member_id = await add(client, {"role_id": GUEST, "member_user": {"username": "carol"}})
    assert (await anonymous.get("/v2/team/app/manifests/v1", auth=carol)).status_code == 200
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=carol)).status_code == 403
    r = await client.put(f"{MEMBERS}/{member_id}", json={"role_id": DEVELOPER})
    assert r.status_code == 200, r.text
    assert (await client.get(f"{MEMBERS}/{member_id}")).json()["role_name"] == "developer"
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=carol)).status_code == 202
    r = await client.delete(f"{MEMBERS}/{member_id}")
    assert r.status_code == 200, r.text
    assert (await anonymous.get("/v2/team/app/manifests/v1", auth=carol)).status_code == 403
    assert (await client.get(f"{MEMBERS}/{member_id}")).status_code == 404
    assert (await client.delete(f"{MEMBERS}/{member_id}")).status_code == 404
    assert (await client.put(f"{MEMBERS}/{member_id}", json={"role_id": 3})).status_code == 404


async def test_a_user_is_a_member_once(client: httpx.AsyncClient, registry: Registry) -> None:
    carol = await registry.users.create("carol", MEMBER_PASSWORD)
    await add(client, {"role_id": GUEST, "member_user": {"username": "carol"}})
    r = await client.post(
        MEMBERS, json={"role_id": DEVELOPER, "member_user": {"user_id": carol.id}}
    )
    assert r.status_code == 409, r.text
    assert error_code(r) == "CONFLICT"
    roles = [m["role_id"] for m in (await client.get(MEMBERS)).json() if m["entity_id"] == carol.id]
    assert roles == [GUEST]


async def test_an_ldap_group_outside_ldap_mode_is_a_conflict(client: httpx.AsyncClient) -> None:
    r = await client.post(
        MEMBERS,
        json={"role_id": DEVELOPER, "member_group": {"group_type": 1, "ldap_group_dn": "cn=devs"}},
    )
    assert r.status_code == 409, r.text
    assert "auth mode ldap" in r.text


@pytest.mark.parametrize(
    "body",
    [
        {"role_id": 0, "member_user": {"username": "carol"}},
        {"role_id": 6, "member_user": {"username": "carol"}},
        {"role_id": "2", "member_user": {"username": "carol"}},
        {"role_id": 2.5, "member_user": {"username": "carol"}},
        {"member_user": {"username": "carol"}},
        {"role_id": DEVELOPER},
        {"role_id": DEVELOPER, "member_user": {}},
        {
            "role_id": DEVELOPER,
            "member_user": {"username": "carol"},
            "member_group": {"group_type": 3, "group_name": "devs"},
        },
        {"role_id": DEVELOPER, "member_group": {"group_type": 2, "group_name": "devs"}},
        {"role_id": DEVELOPER, "member_group": {"group_type": 3}},
        {"role_id": DEVELOPER, "member_user": {"user_id": 0}},
    ],
    ids=[
        "role-0",
        "role-6",
        "role-as-string",
        "role-fraction",
        "no-role",
        "no-member",
        "user-without-id-or-name",
        "user-and-group",
        "unknown-group-type",
        "oidc-group-without-name",
        "user-id-0",
    ],
)
async def test_invalid_members_are_400(
    client: httpx.AsyncClient, registry: Registry, body: dict[str, Any]
) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    r = await client.post(MEMBERS, json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"
    assert len((await client.get(MEMBERS)).json()) == 1


async def test_a_bad_role_change_is_400(client: httpx.AsyncClient, registry: Registry) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    member_id = await add(client, {"role_id": GUEST, "member_user": {"username": "carol"}})
    for body in ({"role_id": 9}, {"role_id": "1"}, {}, {"role": 1}):
        r = await client.put(f"{MEMBERS}/{member_id}", json=body)
        assert r.status_code == 400, (body, r.text)
    r = await client.put(
        f"{MEMBERS}/{member_id}", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert (await client.get(f"{MEMBERS}/{member_id}")).json()["role_id"] == GUEST


async def test_unknown_users_projects_and_groups_are_404(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    r = await client.post(MEMBERS, json={"role_id": GUEST, "member_user": {"username": "nobody"}})
    assert r.status_code == 404, r.text
    r = await client.post(MEMBERS, json={"role_id": GUEST, "member_user": {"user_id": 99999}})
    assert r.status_code == 404
    r = await client.post(MEMBERS, json={"role_id": GUEST, "member_group": {"id": 99999}})
    assert r.status_code == 404
    r = await client.post(
        "/api/v2.0/projects/nothere/members",
        json={"role_id": GUEST, "member_user": {"username": "carol"}},
    )
    assert r.status_code == 404
    assert (await client.get("/api/v2.0/projects/nothere/members")).status_code == 404
    assert (await client.get(f"{MEMBERS}/99999")).status_code == 404


async def test_a_member_of_one_project_is_not_found_through_another(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    member_id = await add(client, {"role_id": GUEST, "member_user": {"username": "carol"}})
    other = f"/api/v2.0/projects/zoo/members/{member_id}"
    assert (await client.get(other)).status_code == 404
    assert (await client.put(other, json={"role_id": PROJECT_ADMIN})).status_code == 404
    assert (await client.delete(other)).status_code == 404
    assert (await client.get(f"{MEMBERS}/{member_id}")).json()["role_id"] == GUEST


async def test_an_oidc_group_becomes_a_member(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    body = {"role_id": DEVELOPER, "member_group": {"group_type": 3, "group_name": "devs"}}
    member_id = await add(client, body)
    member = (await client.get(f"{MEMBERS}/{member_id}")).json()
    assert (member["entity_type"], member["entity_name"], member["role_id"]) == (
        "g",
        "devs",
        DEVELOPER,
    )
    # The same group again, by its name or by its id, is the same member.
    assert (await client.post(MEMBERS, json=body)).status_code == 409
    by_id = {"role_id": GUEST, "member_group": {"id": member["entity_id"]}}
    assert (await client.post(MEMBERS, json=by_id)).status_code == 409
    await add(client, by_id, url="/api/v2.0/projects/zoo/members")


async def test_reading_members_needs_guest_and_managing_needs_project_admin(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    member: MemberClient,
    registry: Registry,
) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    body = {"role_id": GUEST, "member_user": {"username": "carol"}}
    outsider = await member("outsider")
    assert (await anonymous.get(MEMBERS)).status_code == 401
    assert (await anonymous.post(MEMBERS, json=body)).status_code == 401
    assert (await outsider.get(MEMBERS)).status_code == 404
    assert (await outsider.post(MEMBERS, json=body)).status_code == 404
    limited = await member("limited", {"team": LIMITED_GUEST})
    assert (await limited.get(MEMBERS)).status_code == 403
    for name, role in (("guest", GUEST), ("dev", DEVELOPER), ("maint", MAINTAINER)):
        caller = await member(name, {"team": role})
        assert (await caller.get(MEMBERS)).status_code == 200, name
        assert (await caller.post(MEMBERS, json=body)).status_code == 403, name
    owner = await member("owner", {"team": PROJECT_ADMIN})
    member_id = await add(owner, body)
    r = await owner.put(f"{MEMBERS}/{member_id}", json={"role_id": MAINTAINER})
    assert r.status_code == 200
    maint = await member("maint2", {"team": MAINTAINER})
    assert (await maint.put(f"{MEMBERS}/{member_id}", json={"role_id": 1})).status_code == 403
    assert (await maint.delete(f"{MEMBERS}/{member_id}")).status_code == 403
    assert (await owner.delete(f"{MEMBERS}/{member_id}")).status_code == 200


async def test_public_projects_do_not_show_their_members_to_strangers(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    outsider = await member("outsider")
    url = "/api/v2.0/projects/library/members"
    assert (await client.get(url)).status_code == 200
    assert (await outsider.get(url)).status_code == 403
    # As on Harbor: a refused anonymous caller is asked to log in.
    assert (await anonymous.get(url)).status_code == 401


async def test_the_member_list_pages_with_a_total_and_links(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """As Harbor's (``page``, ``page_size``; ``X-Total-Count``, ``Link``), which its
    clients page through."""
    team = await registry.projects.get("team")
    for name in ("m1", "m2", "m3", "m4"):
        user = await registry.users.create(name, MEMBER_PASSWORD)
        await registry.members.add(team.id, "u", user.id, GUEST)
    r = await client.get(MEMBERS, params={"page": 1, "page_size": 2})
    assert r.status_code == 200, r.text
    assert [m["entity_name"] for m in r.json()] == ["admin", "m1"]
    assert r.headers["X-Total-Count"] == "5"
    assert r.headers["Link"] == f'<{MEMBERS}?page=2&page_size=2>; rel="next"'
    r = await client.get(MEMBERS, params={"page": 3, "page_size": 2})
    assert [m["entity_name"] for m in r.json()] == ["m4"]
    assert r.headers["Link"] == f'<{MEMBERS}?page=2&page_size=2>; rel="prev"'
    assert (await client.get(MEMBERS, params={"page": 0})).status_code == 400
    assert (await client.get(MEMBERS, params={"page_size": 101})).status_code == 400
