"""/api/v2.0/robots: system and project robots, their secrets, and what the data plane does
with them once they are disabled, refreshed, expired or deleted."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from dockyard.access.models import Robot
from dockyard.db.base import utcnow
from dockyard.registry import Registry
from tests.api.conftest import DEVELOPER, MAINTAINER, PROJECT_ADMIN, MemberClient
from tests.oci.helpers import push_image

ROBOTS = "/api/v2.0/robots"
PULL = {"resource": "repository", "action": "pull"}
PUSH = {"resource": "repository", "action": "push"}


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def project_robot(
    project: str = "team",
    name: str = "ci",
    access: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "level": "project",
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": [PULL] if access is None else access,
            }
        ],
        **extra,
    }


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(ROBOTS, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def token_actions(
    anonymous: httpx.AsyncClient, auth: tuple[str, str], scope: str
) -> httpx.Response:
    return await anonymous.get(
        "/service/token", params={"service": "dockyard", "scope": scope}, auth=auth
    )


async def pull(anonymous: httpx.AsyncClient, auth: tuple[str, str], name: str = "team/app") -> int:
    return (await anonymous.get(f"/v2/{name}/manifests/v1", auth=auth)).status_code


async def test_a_created_robot_gets_a_secret_once_that_works_on_the_data_plane(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot(description="builds", access=[PULL, PUSH]))
    assert created["name"] == "robot$team+ci"
    assert created["expires_at"] == -1
    assert len(created["secret"]) >= 16
    auth = (created["name"], created["secret"])
    assert await pull(anonymous, auth) == 200
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)).status_code == 202
    r = await token_actions(anonymous, auth, "repository:team/app:pull,push,delete")
    assert r.status_code == 200, r.text
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await anonymous.get("/v2/team/app/manifests/v1", headers=bearer)).status_code == 200
    # Delete was not granted: the token does not carry it.
    r = await anonymous.delete("/v2/team/app/manifests/v1", headers=bearer)
    assert r.status_code == 403
    # The secret is never shown again.
    robot = (await client.get(f"{ROBOTS}/{created['id']}")).json()
    assert "secret" not in robot
    assert created["secret"] not in (await client.get(ROBOTS, params={"project": "team"})).text
    assert robot["name"] == "robot$team+ci"
    assert robot["description"] == "builds"
    assert robot["level"] == "project"
    assert robot["disable"] is False
    assert robot["creator"] == "admin"
    assert robot["permissions"] == [
        {
            "kind": "project",
            "namespace": "team",
            "access": [
                {"resource": "repository", "action": "pull"},
                {"resource": "repository", "action": "push"},
            ],
        }
    ]
    assert robot["creation_time"] == created["creation_time"]


async def test_a_robot_is_refused_outside_its_project(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "zoo/app", "v1")
    created = await create(client, project_robot())
    auth = (created["name"], created["secret"])
    assert await pull(anonymous, auth, "zoo/app") == 403
    r = await token_actions(anonymous, auth, "repository:zoo/app:pull")
    assert r.status_code == 200
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await anonymous.get("/v2/zoo/app/manifests/v1", headers=bearer)).status_code == 403


async def test_a_robot_with_a_duration_expires(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot(duration=30))
    expected = time.time() + 30 * 86400
    assert abs(created["expires_at"] - expected) < 60
    robot = (await client.get(f"{ROBOTS}/{created['id']}")).json()
    assert robot["expires_at"] == created["expires_at"]
    auth = (created["name"], created["secret"])
    assert await pull(anonymous, auth) == 200
    async with registry.db.write() as conn:
        await conn.execute(
            update(Robot)
            .where(Robot.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await pull(anonymous, auth) == 401
    assert (await token_actions(anonymous, auth, "repository:team/app:pull")).status_code == 401
    # Renewing the duration brings it back.
    r = await client.put(f"{ROBOTS}/{created['id']}", json={"duration": -1})
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"] == -1
    assert await pull(anonymous, auth) == 200


async def test_disable_and_enable_take_effect_at_the_next_request(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot())
    auth = (created["name"], created["secret"])
    r = await token_actions(anonymous, auth, "repository:team/app:pull")
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.put(f"{ROBOTS}/{created['id']}", json={"disable": True})
    assert r.status_code == 200, r.text
    assert r.json()["disable"] is True
    assert await pull(anonymous, auth) == 401
    # A token issued before is refused too.
    assert (await anonymous.get("/v2/team/app/manifests/v1", headers=bearer)).status_code == 401
    assert (await token_actions(anonymous, auth, "repository:team/app:pull")).status_code == 401
    r = await client.put(f"{ROBOTS}/{created['id']}", json={"disable": False})
    assert r.status_code == 200
    assert await pull(anonymous, auth) == 200
    assert (await anonymous.get("/v2/team/app/manifests/v1", headers=bearer)).status_code == 200


async def test_a_robot_created_disabled_cannot_log_in(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot(disable=True))
    assert (await client.get(f"{ROBOTS}/{created['id']}")).json()["disable"] is True
    assert await pull(anonymous, (created["name"], created["secret"])) == 401


async def test_a_refreshed_secret_replaces_the_old_one(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot())
    old = (created["name"], created["secret"])
    r = await client.patch(f"{ROBOTS}/{created['id']}", json={})
    assert r.status_code == 200, r.text
    fresh = r.json()["secret"]
    assert fresh
    assert fresh != created["secret"]
    assert await pull(anonymous, old) == 401
    assert await pull(anonymous, (created["name"], fresh)) == 200
    # A secret of the caller's choosing.
    r = await client.patch(f"{ROBOTS}/{created['id']}", json={"secret": "Chosen-Secret-9"})
    assert r.status_code == 200
    assert r.json()["secret"] == "Chosen-Secret-9"
    assert await pull(anonymous, (created["name"], "Chosen-Secret-9")) == 200
    assert await pull(anonymous, (created["name"], fresh)) == 401
    r = await client.patch(f"{ROBOTS}/{created['id']}", json={"secret": "short"})
    assert r.status_code == 400
    assert await pull(anonymous, (created["name"], "Chosen-Secret-9")) == 200
    assert (await client.patch(f"{ROBOTS}/99999", json={})).status_code == 404


async def test_a_deleted_robot_is_refused_at_its_next_request(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot())
    auth = (created["name"], created["secret"])
    r = await token_actions(anonymous, auth, "repository:team/app:pull")
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.delete(f"{ROBOTS}/{created['id']}")
    assert r.status_code == 200, r.text
    assert await pull(anonymous, auth) == 401
    assert (await anonymous.get("/v2/team/app/manifests/v1", headers=bearer)).status_code == 401
    assert (await client.get(f"{ROBOTS}/{created['id']}")).status_code == 404
    assert (await client.delete(f"{ROBOTS}/{created['id']}")).status_code == 404
    assert (await client.put(f"{ROBOTS}/{created['id']}", json={"disable": True})).status_code == (
        404
    )
    # The name is free again.
    await create(client, project_robot())


async def test_a_taken_robot_name_is_409(client: httpx.AsyncClient) -> None:
    await create(client, project_robot())
    r = await client.post(ROBOTS, json=project_robot())
    assert r.status_code == 409, r.text
    assert error_code(r) == "CONFLICT"
    # The same short name in another project is another robot.
    await create(client, project_robot("zoo"))
    system = {"name": "ci", "level": "system", "permissions": [_all_projects([PULL])]}
    await create(client, system)
    assert (await client.post(ROBOTS, json=system)).status_code == 409


async def test_the_longest_project_and_robot_names_fit_and_work(
    client: httpx.AsyncClient, registry_app: object
) -> None:
    # "robot$" + a long project name + "+" + a 128-character name: more than 255
    # characters, which PostgreSQL refused in a varchar(255) (found by schemathesis).
    # (250: a repository's full name, "<project>/app", has at most 255.)
    project = "p" * 250
    r = await client.post("/api/v2.0/projects", json={"project_name": project})
    assert r.status_code == 201, r.text
    created = await create(client, project_robot(project, name="n" * 128, access=[PULL, PUSH]))
    assert len(created["name"]) == 6 + 250 + 1 + 128
    auth = (created["name"], created["secret"])
    transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry.test", auth=auth
    ) as robot:
        await push_image(robot, f"{project}/app", "v1")
    # The audit log names the robot in full.
    r = await client.get("/api/v2.0/audit-logs", params={"username": created["name"]})
    assert r.status_code == 200, r.text
    assert {event["resource"] for event in r.json()} >= {f"{project}/app:v1"}


def _all_projects(access: list[dict[str, str]]) -> dict[str, Any]:
    return {"kind": "system", "namespace": "*", "access": access}


@pytest.mark.parametrize(
    "body",
    [
        project_robot(name="Upper"),
        project_robot(name="has space"),
        project_robot(name=""),
        project_robot(access=[{"resource": "repository", "action": "read"}]),
        project_robot(access=[{"resource": "member", "action": "create"}]),
        project_robot(access=[{"resource": "robot", "action": "create"}]),
        project_robot(access=[]),
        project_robot(duration=0),
        project_robot(duration=-2),
        project_robot(duration="30"),
        project_robot(disable="no"),
        project_robot("*"),
        {**project_robot(), "level": "global"},
        {**project_robot(), "permissions": []},
        {
            **project_robot(),
            "permissions": [
                {"kind": "project", "namespace": "team", "access": [PULL]},
                {"kind": "project", "namespace": "zoo", "access": [PULL]},
            ],
        },
        {"name": "ci", "level": "project"},
    ],
    ids=[
        "uppercase-name",
        "space-in-name",
        "empty-name",
        "unknown-action",
        "unknown-resource",
        "robot-management",
        "no-access",
        "duration-0",
        "duration-below-minus-one",
        "duration-as-string",
        "disable-as-string",
        "project-robot-on-every-project",
        "unknown-level",
        "no-permissions",
        "project-robot-on-two-projects",
        "permissions-missing",
    ],
)
async def test_invalid_robots_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post(ROBOTS, json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BAD_REQUEST"
    assert (await client.get(ROBOTS, params={"project": "team"})).json() == []


async def test_a_robot_for_a_missing_project_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(ROBOTS, json=project_robot("nothere"))
    assert r.status_code == 404, r.text
    system = {
        "name": "ci",
        "level": "system",
        "permissions": [{"kind": "project", "namespace": "nothere", "access": [PULL]}],
    }
    assert (await client.post(ROBOTS, json=system)).status_code == 404


async def test_a_system_robot_on_every_project_reaches_every_project(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    for name in ("team/app", "zoo/app", "library/app"):
        await push_image(client, name, "v1")
    created = await create(
        client, {"name": "mirror", "level": "system", "permissions": [_all_projects([PULL, PUSH])]}
    )
    assert created["name"] == "robot$mirror"
    auth = (created["name"], created["secret"])
    for name in ("team/app", "zoo/app", "library/app"):
        assert await pull(anonymous, auth, name) == 200, name
        r = await anonymous.post(f"/v2/{name}/blobs/uploads/", auth=auth)
        assert r.status_code == 202, name
    # Projects created after the robot too.
    await client.post("/api/v2.0/projects", json={"project_name": "later"})
    assert (await anonymous.post("/v2/later/app/blobs/uploads/", auth=auth)).status_code == 202
    r = await anonymous.delete("/v2/team/app/manifests/v1", auth=auth)
    assert r.status_code == 403
    robots = (await client.get(ROBOTS)).json()
    assert [(r["name"], r["level"]) for r in robots] == [("robot$mirror", "system")]
    assert robots[0]["permissions"] == [
        {"kind": "system", "namespace": "*", "access": [PULL, PUSH]}
    ]


async def test_a_system_robot_on_some_projects_reaches_those_only(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    for name in ("team/app", "zoo/app", "app/app"):
        await push_image(client, name, "v1")
    body = {
        "name": "two",
        "level": "system",
        "permissions": [
            {"kind": "project", "namespace": "team", "access": [PULL]},
            {"kind": "project", "namespace": "zoo", "access": [PULL, PUSH]},
        ],
    }
    created = await create(client, body)
    auth = (created["name"], created["secret"])
    assert await pull(anonymous, auth, "team/app") == 200
    assert await pull(anonymous, auth, "zoo/app") == 200
    assert await pull(anonymous, auth, "app/app") == 403
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)).status_code == 403
    assert (await anonymous.post("/v2/zoo/app/blobs/uploads/", auth=auth)).status_code == 202


async def test_a_project_admin_creates_project_robots_but_not_system_robots(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    await push_image(client, "team/app", "v1")
    owner = await member("owner", {"team": PROJECT_ADMIN, "app": DEVELOPER})
    created = await create(owner, project_robot())
    assert created["name"] == "robot$team+ci"
    assert await pull(anonymous, (created["name"], created["secret"])) == 200
    assert (await owner.get(f"{ROBOTS}/{created['id']}")).json()["creator"] == "owner"
    system = {"name": "mirror", "level": "system", "permissions": [_all_projects([PULL])]}
    r = await owner.post(ROBOTS, json=system)
    assert r.status_code == 403, r.text
    system["permissions"] = [{"kind": "project", "namespace": "team", "access": [PULL]}]
    assert (await owner.post(ROBOTS, json=system)).status_code == 403
    # Not in a project where it is a developer, nor in one it is no member of.
    assert (await owner.post(ROBOTS, json=project_robot("app"))).status_code == 403
    assert (await owner.post(ROBOTS, json=project_robot("zoo"))).status_code == 404
    assert (await owner.get(ROBOTS)).status_code == 403
    assert [r["name"] for r in (await client.get(ROBOTS)).json()] == []
    # It manages its project's robots: disable, refresh, delete.
    r = await owner.put(f"{ROBOTS}/{created['id']}", json={"disable": True})
    assert r.status_code == 200
    assert (await owner.patch(f"{ROBOTS}/{created['id']}", json={})).status_code == 200
    assert (await owner.delete(f"{ROBOTS}/{created['id']}")).status_code == 200


async def test_who_may_read_and_manage_a_project_robot(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    created = await create(client, project_robot())
    url = f"{ROBOTS}/{created['id']}"
    maintainer = await member("maint", {"team": MAINTAINER})
    developer = await member("dev", {"team": DEVELOPER})
    outsider = await member("outsider")
    assert (await maintainer.get(url)).status_code == 200
    r = await maintainer.get(ROBOTS, params={"project": "team"})
    assert [robot["name"] for robot in r.json()] == ["robot$team+ci"]
    for method, body in (("PUT", {"disable": True}), ("PATCH", {}), ("DELETE", None)):
        assert (await maintainer.request(method, url, json=body)).status_code == 403, method
    assert (await maintainer.post(ROBOTS, json=project_robot(name="other"))).status_code == 403
    assert (await developer.get(url)).status_code == 403
    assert (await developer.get(ROBOTS, params={"project": "team"})).status_code == 403
    assert (await outsider.get(url)).status_code == 404
    assert (await outsider.delete(url)).status_code == 404
    assert (await anonymous.get(url)).status_code == 401
    assert (await anonymous.delete(url)).status_code == 401
    assert (await anonymous.post(ROBOTS, json=project_robot(name="other"))).status_code == 401
    assert (await anonymous.get(ROBOTS)).status_code == 401
    assert (await client.get(url)).json()["disable"] is False


async def test_system_robots_are_for_system_admins(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    created = await create(
        client, {"name": "mirror", "level": "system", "permissions": [_all_projects([PULL])]}
    )
    owner = await member("owner", {"team": PROJECT_ADMIN})
    url = f"{ROBOTS}/{created['id']}"
    assert (await owner.get(url)).status_code == 403
    assert (await owner.delete(url)).status_code == 403
    assert (await anonymous.get(url)).status_code == 401
    assert (await client.get(url)).status_code == 200


async def test_a_robot_cannot_manage_robots(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    # Robots get no robot management (as on Harbor): refused, also with project read.
    reader = await create(
        client, project_robot(access=[PULL, {"resource": "project", "action": "read"}])
    )
    auth = (reader["name"], reader["secret"])
    r = await anonymous.post(ROBOTS, json=project_robot(name="child"), auth=auth)
    assert r.status_code == 403, r.text
    r = await anonymous.delete(f"{ROBOTS}/{reader['id']}", auth=auth)
    assert r.status_code == 403, r.text
    # One that may not read the project meets a project that is not there.
    puller = await create(client, project_robot(name="puller"))
    auth = (puller["name"], puller["secret"])
    r = await anonymous.post(ROBOTS, json=project_robot(name="child"), auth=auth)
    assert r.status_code == 404, r.text
    assert (await anonymous.delete(f"{ROBOTS}/{puller['id']}", auth=auth)).status_code == 404
    robots = (await client.get(ROBOTS, params={"project": "team"})).json()
    assert sorted(robot["name"] for robot in robots) == ["robot$team+ci", "robot$team+puller"]


async def test_a_robot_update_replaces_its_permissions(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    created = await create(client, project_robot())
    auth = (created["name"], created["secret"])
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)).status_code == 403
    body = {"permissions": project_robot(access=[PULL, PUSH])["permissions"]}
    r = await client.put(f"{ROBOTS}/{created['id']}", json=body)
    assert r.status_code == 200, r.text
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)).status_code == 202
    # A project robot stays in its project: another one conflicts with what the robot is.
    body = {"permissions": project_robot("zoo")["permissions"]}
    assert (await client.put(f"{ROBOTS}/{created['id']}", json=body)).status_code == 409
    assert (await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)).status_code == 202
    assert (await client.put(f"{ROBOTS}/{created['id']}", json={"duration": 0})).status_code == 400


async def test_the_robot_list_pages_with_a_total_and_links(client: httpx.AsyncClient) -> None:
    """As Harbor's (``page``, ``page_size``; ``X-Total-Count``, ``Link``), which its
    clients page through."""
    for name in ("r1", "r2", "r3"):
        await create(client, project_robot(name=name))
    r = await client.get(ROBOTS, params={"project": "team", "page": 1, "page_size": 2})
    assert r.status_code == 200, r.text
    assert [robot["name"] for robot in r.json()] == ["robot$team+r1", "robot$team+r2"]
    assert r.headers["X-Total-Count"] == "3"
    assert r.headers["Link"] == f'<{ROBOTS}?project=team&page=2&page_size=2>; rel="next"'
    r = await client.get(ROBOTS, params={"project": "team", "page": 2, "page_size": 2})
    assert [robot["name"] for robot in r.json()] == ["robot$team+r3"]
    assert (await client.get(ROBOTS, params={"page": 0})).status_code == 400
    assert (await client.get(ROBOTS, params={"page_size": 101})).status_code == 400
