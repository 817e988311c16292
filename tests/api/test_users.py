"""/api/v2.0/users: accounts, the current user, search, profiles, passwords, admin flags."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.access.rbac import Action
from dockyard.access.robots import RobotPermissionSpec
from dockyard.registry import Registry
from tests.api.conftest import DEVELOPER, MEMBER_PASSWORD, MemberClient
from tests.servers import ADMIN_PASSWORD

USERS = "/api/v2.0/users"


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def create(client: httpx.AsyncClient, username: str, **extra: Any) -> int:
    body = {"username": username, "password": "User-Secret-1", **extra}
    r = await client.post(USERS, json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


async def id_of(client: httpx.AsyncClient) -> int:
    r = await client.get(f"{USERS}/current")
    assert r.status_code == 200, r.text
    user_id: int = r.json()["user_id"]
    return user_id


async def test_admin_creates_a_user_who_can_then_log_in(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    r = await client.post(
        USERS,
        json={
            "username": "alice",
            "password": "Alice-Secret-1",
            "email": "alice@example.com",
            "realname": "Alice A.",
            "comment": "first",
        },
    )
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith(f"{USERS}/")
    r = await client.get(location)
    assert r.status_code == 200
    user = r.json()
    assert user["user_id"] == int(location.rsplit("/", 1)[1])
    assert {k: user[k] for k in ("username", "email", "realname", "comment")} == {
        "username": "alice",
        "email": "alice@example.com",
        "realname": "Alice A.",
        "comment": "first",
    }
    assert user["sysadmin_flag"] is False
    assert user["auth_source"] == "db"
    assert "password" not in r.text
    alice = ("alice", "Alice-Secret-1")
    assert (await anonymous.get("/v2/", auth=alice)).status_code == 200
    r = await anonymous.get(f"{USERS}/current", auth=alice)
    assert r.status_code == 200
    assert r.json()["user_id"] == user["user_id"]


async def test_a_taken_username_is_409(client: httpx.AsyncClient) -> None:
    await create(client, "alice")
    r = await client.post(USERS, json={"username": "alice", "password": "Other-Secret-1"})
    assert r.status_code == 409, r.text
    assert error_code(r) == "CONFLICT"
    r = await client.post(USERS, json={"username": "admin", "password": "Other-Secret-1"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"username": "has space", "password": "User-Secret-1"},
        {"username": "-leading-dash", "password": "User-Secret-1"},
        {"username": "robot$ci", "password": "User-Secret-1"},
        {"username": "", "password": "User-Secret-1"},
        {"username": "a" * 256, "password": "User-Secret-1"},
        {"username": "bob", "password": "short"},
        {"username": "bob"},
        {"password": "User-Secret-1"},
        {"username": 5, "password": "User-Secret-1"},
        {"username": "bob", "password": "User-Secret-1", "email": "x" * 256},
    ],
    ids=[
        "space",
        "leading-dash",
        "robot-prefix",
        "empty-name",
        "long-name",
        "short-password",
        "no-password",
        "no-username",
        "number-name",
        "long-email",
    ],
)
async def test_invalid_users_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post(USERS, json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"
    r = await client.get(USERS, params={"page_size": 100})
    assert [u["username"] for u in r.json()] == ["admin"]


@pytest.mark.parametrize("content", [b"{not json", b"[]", b"", b'"alice"'])
async def test_a_body_that_is_not_a_user_object_is_400(
    client: httpx.AsyncClient, content: bytes
) -> None:
    r = await client.post(USERS, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"


async def test_the_user_list_pages_with_a_total_and_links(client: httpx.AsyncClient) -> None:
    for name in ("u1", "u2", "u3", "u4"):
        await create(client, name, email=f"{name}@example.com")
    r = await client.get(USERS, params={"page": 1, "page_size": 2})
    assert r.status_code == 200
    assert [u["username"] for u in r.json()] == ["admin", "u1"]
    assert r.headers["X-Total-Count"] == "5"
    assert r.headers["Link"] == f'<{USERS}?page=2&page_size=2>; rel="next"'
    r = await client.get(USERS, params={"page": 2, "page_size": 2})
    assert [u["username"] for u in r.json()] == ["u2", "u3"]
    assert r.headers["Link"] == (
        f'<{USERS}?page=1&page_size=2>; rel="prev", <{USERS}?page=3&page_size=2>; rel="next"'
    )
    r = await client.get(USERS, params={"page": 3, "page_size": 2})
    assert [u["username"] for u in r.json()] == ["u4"]
    assert r.headers["Link"] == f'<{USERS}?page=2&page_size=2>; rel="prev"'
    r = await client.get(USERS, params={"page": 4, "page_size": 2})
    assert r.json() == []
    assert r.headers["X-Total-Count"] == "5"
    # The filter narrows the total too; the links keep it.
    r = await client.get(USERS, params={"username": "u", "page_size": 3})
    assert [u["username"] for u in r.json()] == ["u1", "u2", "u3"]
    assert r.headers["X-Total-Count"] == "4"
    assert r.headers["Link"] == f'<{USERS}?username=u&page=2&page_size=3>; rel="next"'


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page_size": 101}, {"page_size": 0}, {"page": -1}, {"page": "first"}],
    ids=["page-0", "page_size-101", "page_size-0", "page-negative", "page-text"],
)
async def test_bad_paging_is_400(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get(USERS, params=params)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"


async def test_admin_routes_need_a_login_then_a_system_admin(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    target = await create(client, "target")
    calls = [
        ("GET", USERS, None),
        ("POST", USERS, {"username": "eve", "password": "Eve-Secret-1"}),
        ("DELETE", f"{USERS}/{target}", None),
        ("PUT", f"{USERS}/{target}/sysadmin", {"sysadmin_flag": True}),
    ]
    for method, url, body in calls:
        r = await anonymous.request(method, url, json=body)
        assert r.status_code == 401, (method, url, r.text)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="dockyard"'
    dev = await member("dev")
    for method, url, body in calls:
        r = await dev.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert error_code(r) == "FORBIDDEN"
    r = await client.get(f"{USERS}/{target}")
    assert r.json()["sysadmin_flag"] is False
    r = await client.get(USERS, params={"username": "eve"})
    assert r.json() == []


async def test_wrong_credentials_are_401(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get(f"{USERS}/current", auth=("admin", "not-the-password"))
    assert r.status_code == 401
    r = await anonymous.get(f"{USERS}/current", headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401
    r = await anonymous.get(f"{USERS}/current")
    assert r.status_code == 401


async def test_any_logged_in_user_may_search_users(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await create(client, "carol", email="carol@example.com")
    dev = await member("dev")
    r = await dev.get(f"{USERS}/search", params={"username": "car"})
    assert r.status_code == 200
    assert [u["username"] for u in r.json()] == ["carol"]
    assert r.headers["X-Total-Count"] == "1"
    r = await anonymous.get(f"{USERS}/search", params={"username": "car"})
    assert r.status_code == 401
    r = await dev.get(f"{USERS}/search")
    assert r.status_code == 400


async def test_users_read_and_update_their_own_account_only(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    dev = await member("dev")
    other = await create(client, "other")
    own = await id_of(dev)
    assert (await dev.get(f"{USERS}/{own}")).json()["username"] == "dev"
    r = await dev.put(f"{USERS}/{own}", json={"email": "dev@example.com", "realname": "Dev"})
    assert r.status_code == 200, r.text
    r = await dev.get(f"{USERS}/current")
    assert (r.json()["email"], r.json()["realname"]) == ("dev@example.com", "Dev")
    assert (await dev.get(f"{USERS}/{other}")).status_code == 403
    r = await dev.put(f"{USERS}/{other}", json={"email": "mine@example.com"})
    assert r.status_code == 403
    assert (await client.get(f"{USERS}/{other}")).json()["email"] == ""
    r = await client.put(f"{USERS}/{other}", json={"comment": "set by the admin"})
    assert r.status_code == 200
    assert (await client.get(f"{USERS}/{other}")).json()["comment"] == "set by the admin"


async def test_a_profile_with_bad_fields_is_400(client: httpx.AsyncClient) -> None:
    target = await create(client, "target")
    for body in ({"email": 5}, {"realname": "x" * 256}, {"comment": ["a"]}):
        r = await client.put(f"{USERS}/{target}", json=body)
        assert r.status_code == 400, (body, r.text)


async def test_an_unknown_user_is_404(client: httpx.AsyncClient, member: MemberClient) -> None:
    missing = f"{USERS}/99999"
    assert (await client.get(missing)).status_code == 404
    assert (await client.put(missing, json={"email": "x@example.com"})).status_code == 404
    assert (await client.delete(missing)).status_code == 404
    assert (await client.put(f"{missing}/sysadmin", json={"sysadmin_flag": True})).status_code == (
        404
    )
    r = await client.put(f"{missing}/password", json={"new_password": "Fresh-Secret-1"})
    assert r.status_code == 404
    assert error_code(await client.get(missing)) == "NOT_FOUND"
    # Ids are positive: 0 is not an id at all.
    assert (await client.get(f"{USERS}/0")).status_code == 400


async def test_a_deleted_user_can_no_longer_log_in_nor_stays_a_member(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await member("dev", {"team": DEVELOPER})
    dev_id = await id_of(await member("probe"))  # a second user, to check only one goes
    r = await client.get(USERS, params={"username": "dev"})
    target = r.json()[0]["user_id"]
    assert (await client.delete(f"{USERS}/{target}")).status_code == 200
    assert (await client.get(f"{USERS}/{target}")).status_code == 404
    assert (await client.get(f"{USERS}/{dev_id}")).status_code == 200
    r = await anonymous.get("/v2/", auth=("dev", MEMBER_PASSWORD))
    assert r.status_code == 401
    r = await client.get("/api/v2.0/projects/team/members")
    assert "dev" not in {m["entity_name"] for m in r.json()}
    assert (await client.delete(f"{USERS}/{target}")).status_code == 404


async def test_the_admin_cannot_be_deleted_or_demoted(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    admin_id = await id_of(client)
    r = await client.delete(f"{USERS}/{admin_id}")
    assert r.status_code == 409, r.text
    r = await client.put(f"{USERS}/{admin_id}/sysadmin", json={"sysadmin_flag": False})
    assert r.status_code == 409, r.text
    # Not by another system admin either.
    await create(client, "second")
    await registry.users.update("second", admin=True)
    second = ("second", "User-Secret-1")
    assert (await client.delete(f"{USERS}/{admin_id}", auth=second)).status_code == 409
    r = await client.put(f"{USERS}/{admin_id}/sysadmin", json={"sysadmin_flag": False}, auth=second)
    assert r.status_code == 409
    r = await client.get(f"{USERS}/{admin_id}")
    assert r.json()["sysadmin_flag"] is True
    assert (await client.get(USERS)).status_code == 200


async def test_the_sysadmin_flag_grants_and_revokes_admin_rights(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    dev = await member("dev")
    dev_id = await id_of(dev)
    assert (await dev.get(USERS)).status_code == 403
    r = await client.put(f"{USERS}/{dev_id}/sysadmin", json={"sysadmin_flag": True})
    assert r.status_code == 200, r.text
    assert (await dev.get(f"{USERS}/current")).json()["sysadmin_flag"] is True
    assert (await dev.get(USERS)).status_code == 200
    # A system admin reads private projects it is no member of.
    assert (await dev.get("/api/v2.0/projects/team")).status_code == 200
    r = await client.put(f"{USERS}/{dev_id}/sysadmin", json={"sysadmin_flag": False})
    assert r.status_code == 200
    assert (await dev.get(USERS)).status_code == 403
    assert (await dev.get("/api/v2.0/projects/team")).status_code == 404
    r = await client.put(f"{USERS}/{dev_id}/sysadmin", json={"sysadmin_flag": "yes"})
    assert r.status_code == 400


async def test_changing_ones_own_password_needs_the_old_one(
    anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    dev = await member("dev")
    dev_id = await id_of(dev)
    url = f"{USERS}/{dev_id}/password"
    # Harbor answers 403 "Current password is incorrect": the caller is logged in (a 401
    # would tell clients their credentials are wrong), they just may not do this.
    r = await dev.put(url, json={"old_password": "not-the-password", "new_password": "Fresh-1-abc"})
    assert r.status_code == 403, r.text
    r = await dev.put(url, json={"new_password": "Fresh-1-abc"})
    assert r.status_code == 403, r.text
    assert (await anonymous.get("/v2/", auth=("dev", MEMBER_PASSWORD))).status_code == 200
    assert (await anonymous.get("/v2/", auth=("dev", "Fresh-1-abc"))).status_code == 401


async def test_a_user_changes_their_password_with_the_old_one(
    anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    dev = await member("dev")
    url = f"{USERS}/{await id_of(dev)}/password"
    r = await dev.put(url, json={"old_password": MEMBER_PASSWORD, "new_password": "Fresh-1-abc"})
    assert r.status_code == 200, r.text
    assert (await anonymous.get("/v2/", auth=("dev", MEMBER_PASSWORD))).status_code == 401
    assert (await anonymous.get("/v2/", auth=("dev", "Fresh-1-abc"))).status_code == 200
    r = await anonymous.put(
        url,
        json={"old_password": "Fresh-1-abc", "new_password": "short"},
        auth=("dev", "Fresh-1-abc"),
    )
    assert r.status_code == 400


async def test_the_admin_sets_other_users_passwords(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    dev = await member("dev")
    other = await member("other")
    dev_id = await id_of(dev)
    r = await client.put(f"{USERS}/{dev_id}/password", json={"new_password": "Reset-1-abc"})
    assert r.status_code == 200, r.text
    assert (await anonymous.get("/v2/", auth=("dev", "Reset-1-abc"))).status_code == 200
    # Another user's password is for the admin only.
    r = await other.put(
        f"{USERS}/{dev_id}/password",
        json={"old_password": "Reset-1-abc", "new_password": "Stolen-1-abc"},
    )
    assert r.status_code == 403
    assert (await anonymous.get("/v2/", auth=("dev", "Reset-1-abc"))).status_code == 200


async def test_the_admin_proves_its_own_old_password(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    admin_url = f"{USERS}/{await id_of(client)}/password"
    r = await client.put(admin_url, json={"new_password": "Admin-New-1"})
    assert r.status_code == 403, r.text
    assert (await anonymous.get("/v2/", auth=("admin", ADMIN_PASSWORD))).status_code == 200


async def test_the_admin_changes_its_own_password(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    admin_url = f"{USERS}/{await id_of(client)}/password"
    r = await client.put(
        admin_url, json={"old_password": ADMIN_PASSWORD, "new_password": "Admin-New-1"}
    )
    assert r.status_code == 200, r.text
    assert (await anonymous.get("/v2/", auth=("admin", "Admin-New-1"))).status_code == 200
    assert (await anonymous.get("/v2/", auth=("admin", ADMIN_PASSWORD))).status_code == 401


async def test_a_robot_has_no_user_account(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    created = await registry.robots.create(
        "ci",
        level="project",
        permissions=[RobotPermissionSpec("team", frozenset({Action.REPOSITORY_PULL}))],
        duration_days=-1,
    )
    auth = (created.robot.name, created.secret)
    r = await anonymous.get(f"{USERS}/current", auth=auth)
    assert r.status_code == 403, r.text
    assert (await anonymous.get(USERS, auth=auth)).status_code == 403


@pytest.mark.parametrize("path", ["/users/{}", "/robots/{}", "/schedules/{}"])
async def test_ids_beyond_the_id_columns_are_400_not_a_database_error(
    client: httpx.AsyncClient, path: str
) -> None:
    # PostgreSQL's integer ends at 2**31 - 1: a larger number must not reach the query
    # (asyncpg refuses it, which would be a 503), on SQLite as much as on PostgreSQL.
    largest = 2**31 - 1
    assert (await client.get("/api/v2.0" + path.format(largest))).status_code == 404
    r = await client.get("/api/v2.0" + path.format(largest + 1))
    assert r.status_code == 400, r.text


async def test_job_ids_are_bigints_and_a_project_number_beyond_any_id_is_a_name(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get(f"/api/v2.0/jobs/{2**31}")).status_code == 404
    assert (await client.get(f"/api/v2.0/jobs/{2**53}")).status_code == 400
    assert (await client.get(f"/api/v2.0/projects/{2**31}")).status_code == 404
