"""/api/v2.0/audit-logs and /projects/{project}/logs: who did what to which resource, from
where; the project logs show only their project and need the right to read logs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.registry import Registry
from tests.api.conftest import (
    DEVELOPER,
    GUEST,
    LIMITED_GUEST,
    MEMBER_PASSWORD,
    PROJECT_ADMIN,
    MemberClient,
)
from tests.oci.helpers import push_image

LOGS = "/api/v2.0/audit-logs"
# httpx's in-process transport presents every request as coming from this address.
CLIENT_IP = "127.0.0.1"


def robot_body(project: str, name: str = "ci") -> dict[str, Any]:
    return {
        "name": name,
        "level": "project",
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": [{"resource": "repository", "action": "pull"}],
            }
        ],
    }


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(e["username"], e["operation"], e["resource_type"], e["resource"]) for e in entries]


async def all_logs(client: httpx.AsyncClient, url: str = LOGS, **params: Any) -> list[Any]:
    r = await client.get(url, params={"page_size": 100, **params})
    assert r.status_code == 200, r.text
    entries: list[Any] = r.json()
    return entries


async def test_management_operations_are_logged_with_who_what_and_where(
    client: httpx.AsyncClient,
) -> None:
    assert (
        await client.post(
            "/api/v2.0/users", json={"username": "carol", "password": MEMBER_PASSWORD}
        )
    ).status_code == 201
    assert (
        await client.post("/api/v2.0/projects", json={"project_name": "web"})
    ).status_code == 201
    r = await client.post(
        "/api/v2.0/projects/web/members",
        json={"role_id": GUEST, "member_user": {"username": "carol"}},
    )
    assert r.status_code == 201
    assert (await client.put("/api/v2.0/projects/web", json={"public": True})).status_code == 200
    robot = await client.post("/api/v2.0/robots", json=robot_body("web"))
    assert robot.status_code == 201
    robot_id = robot.json()["id"]
    assert (await client.delete(f"/api/v2.0/robots/{robot_id}")).status_code == 200
    carol = (await client.get("/api/v2.0/users", params={"username": "carol"})).json()[0]
    assert (await client.delete(f"/api/v2.0/users/{carol['user_id']}")).status_code == 200
    assert (await client.delete("/api/v2.0/projects/web")).status_code == 200

    entries = await all_logs(client, username="admin")
    for entry in entries:
        assert entry["client_ip"] == CLIENT_IP, entry
        assert entry["op_time"], entry
    logged = summary(entries)
    # Newest first.
    assert logged[0] == ("admin", "delete", "project", "web")
    for expected in [
        ("admin", "create", "user", "carol"),
        ("admin", "create", "project", "web"),
        ("admin", "update", "project", "web"),
        ("admin", "create", "robot", "robot$web+ci"),
        ("admin", "delete", "robot", "robot$web+ci"),
        ("admin", "delete", "user", "carol"),
    ]:
        assert expected in logged, expected
    assert [e["operation"] for e in entries if e["resource_type"] == "member"] == ["create"]
    ids = sorted(e["id"] for e in entries)
    assert ids == sorted({*ids})


async def test_the_log_names_the_caller_who_did_it(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    owner = await member("owner", {"team": PROJECT_ADMIN})
    developer = await member("dev", {"team": DEVELOPER})
    assert (await owner.post("/api/v2.0/robots", json=robot_body("team"))).status_code == 201
    await push_image(developer, "team/app", "v1")
    entries = await all_logs(client)
    assert ("owner", "create", "robot", "robot$team+ci") in summary(entries)
    assert ("dev", "push", "artifact", "team/app:v1") in summary(entries)
    # What install() did without a request has no address; every request has one.
    assert {e["client_ip"] for e in entries if e["username"] != "system"} == {CLIENT_IP}
    assert {e["client_ip"] for e in entries if e["username"] == "system"} == {""}
    r = await client.get(LOGS, params={"username": "owner"})
    assert summary(r.json()) == [("owner", "create", "robot", "robot$team+ci")]


async def test_a_project_log_shows_that_project_only(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    team = await registry.projects.get("team")
    for project in ("team", "zoo"):
        await push_image(client, f"{project}/app", "v1")
        assert (await client.post("/api/v2.0/robots", json=robot_body(project))).status_code == 201
        r = await client.put(
            f"/api/v2.0/projects/{project}", json={"metadata": {"auto_scan": "true"}}
        )
        assert r.status_code == 200
    entries = await all_logs(client, "/api/v2.0/projects/team/logs")
    assert entries
    assert {e["project_id"] for e in entries} == {team.id}
    logged = summary(entries)
    assert ("admin", "push", "artifact", "team/app:v1") in logged
    assert ("admin", "create", "robot", "robot$team+ci") in logged
    assert ("admin", "update", "project", "team") in logged
    assert not [e for e in logged if "zoo" in e[3]]
    everything = await all_logs(client)
    assert len(everything) > len(entries)
    assert ("admin", "push", "artifact", "zoo/app:v1") in summary(everything)


async def test_a_project_robots_whole_life_is_in_its_projects_log(
    client: httpx.AsyncClient,
) -> None:
    robot = await client.post("/api/v2.0/robots", json=robot_body("team"))
    robot_id = robot.json()["id"]
    url = f"/api/v2.0/robots/{robot_id}"
    assert (await client.put(url, json={"disable": True})).status_code == 200
    assert (await client.patch(url, json={})).status_code == 200
    assert (await client.delete(url)).status_code == 200
    entries = await all_logs(client, "/api/v2.0/projects/team/logs", resource_type="robot")
    # Create, disable, refresh, delete: each names the robot, each in the project's log.
    assert [(e["operation"], e["resource"]) for e in entries] == [
        ("delete", "robot$team+ci"),
        ("update", "robot$team+ci"),
        ("update", "robot$team+ci"),
        ("create", "robot$team+ci"),
    ]


async def test_a_memberships_history_is_found_under_one_resource(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await registry.users.create("carol", MEMBER_PASSWORD)
    r = await client.post(
        "/api/v2.0/projects/team/members",
        json={"role_id": GUEST, "member_user": {"username": "carol"}},
    )
    member_url = r.headers["Location"]
    assert (await client.put(member_url, json={"role_id": DEVELOPER})).status_code == 200
    assert (await client.delete(member_url)).status_code == 200
    entries = await all_logs(client, "/api/v2.0/projects/team/logs", resource_type="member")
    assert [e["operation"] for e in entries] == ["delete", "update", "create"]
    assert len({e["resource"] for e in entries}) == 1, summary(entries)


async def test_reading_a_project_log_needs_log_read(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await push_image(client, "team/app", "v1")
    url = "/api/v2.0/projects/team/logs"
    for name, role in (("guest", GUEST), ("dev", DEVELOPER)):
        caller = await member(name, {"team": role})
        r = await caller.get(url)
        assert r.status_code == 200, name
        assert ("admin", "push", "artifact", "team/app:v1") in summary(r.json())
    limited = await member("limited", {"team": LIMITED_GUEST})
    assert (await limited.get(url)).status_code == 403
    outsider = await member("outsider")
    assert (await outsider.get(url)).status_code == 404
    assert (await anonymous.get(url)).status_code == 401
    # A public project's log is no public reading.
    assert (await outsider.get("/api/v2.0/projects/library/logs")).status_code == 403
    assert (await anonymous.get("/api/v2.0/projects/library/logs")).status_code == 401
    assert (await client.get("/api/v2.0/projects/nothere/logs")).status_code == 404


async def test_the_whole_log_is_for_system_admins(
    anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    owner = await member("owner", {"team": PROJECT_ADMIN})
    assert (await owner.get(LOGS)).status_code == 403
    r = await anonymous.get(LOGS)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="dockyard"'


async def test_the_log_filters_and_pages(client: httpx.AsyncClient, registry: Registry) -> None:
    for n in range(5):
        assert (
            await client.post("/api/v2.0/projects", json={"project_name": f"p{n}"})
        ).status_code == 201
    assert (await client.delete("/api/v2.0/projects/p0")).status_code == 200
    created = await client.get(
        LOGS, params={"operation": "create", "resource_type": "project", "page_size": 2}
    )
    # install() created the test projects without the API, as "system".
    total = int(created.headers["X-Total-Count"])
    assert total >= 5
    assert len(created.json()) == 2
    assert created.headers["Link"] == (
        f'<{LOGS}?operation=create&resource_type=project&page=2&page_size=2>; rel="next"'
    )
    last = await client.get(
        LOGS,
        params={
            "operation": "create",
            "resource_type": "project",
            "page_size": 2,
            "page": (total + 1) // 2,
        },
    )
    assert "next" not in last.headers["Link"]
    assert 'rel="prev"' in last.headers["Link"]
    r = await client.get(LOGS, params={"username": "admin", "resource_type": "project"})
    assert summary(r.json())[:2] == [
        ("admin", "delete", "project", "p0"),
        ("admin", "create", "project", "p4"),
    ]
    assert r.headers["X-Total-Count"] == "6"
    r = await client.get(LOGS, params={"resource": "p3"})
    assert summary(r.json()) == [("admin", "create", "project", "p3")]
    r = await client.get(LOGS, params={"operation": "delete"})
    assert summary(r.json()) == [("admin", "delete", "project", "p0")]


@pytest.mark.parametrize(
    "params",
    [
        {"operation": "explode"},
        {"resource_type": "planet"},
        {"page": 0},
        {"page_size": 101},
        {"page_size": "many"},
    ],
    ids=str,
)
async def test_bad_log_queries_are_400(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert (await client.get(LOGS, params=params)).status_code == 400
    r = await client.get("/api/v2.0/projects/team/logs", params=params)
    assert r.status_code == 400, r.text
