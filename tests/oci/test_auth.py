"""The data plane behind the Docker token protocol: challenges, tokens, scopes, robots."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from dockyard.access.models import Robot
from dockyard.access.rbac import Action
from dockyard.access.robots import RobotPermissionSpec
from dockyard.db.base import utcnow
from dockyard.registry import Registry
from tests.conftest import ADMIN_PASSWORD
from tests.oci.helpers import assert_oci_error, push_image

CHALLENGE = 'Bearer realm="http://registry.test/service/token",service="dockyard"'


async def token(
    client: httpx.AsyncClient, *scopes: str, auth: tuple[str, str] | None = None
) -> str:
    r = await client.get(
        "/service/token",
        params=[("service", "dockyard"), *(("scope", s) for s in scopes)],
        auth=auth,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 1800
    assert body["issued_at"].endswith("Z")
    return str(body["token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_api_base_challenges_a_caller_without_credentials(
    anonymous: httpx.AsyncClient,
) -> None:
    r = await anonymous.get("/v2/")
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"] == CHALLENGE
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_api_base_accepts_basic_credentials_and_tokens(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await client.get("/v2/")).status_code == 200
    anonymous_token = await token(anonymous)
    assert (await anonymous.get("/v2/", headers=bearer(anonymous_token))).status_code == 200


async def test_wrong_password_is_refused(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get("/v2/", auth=("admin", "not-the-password"))
    assert_oci_error(r, 401, "UNAUTHORIZED")
    r = await anonymous.get("/service/token", auth=("admin", "not-the-password"))
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = await anonymous.get("/service/token", auth=("nobody", "whatever-password"))
    assert r.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Negotiate abc",
        "Bearer x.y.z",
    ],
)
async def test_malformed_credentials_are_401_never_500(
    anonymous: httpx.AsyncClient, header: str
) -> None:
    r = await anonymous.get("/v2/library/app/tags/list", headers={"Authorization": header})
    assert_oci_error(r, 401, "UNAUTHORIZED")
    r = await anonymous.get("/service/token", headers={"Authorization": header})
    assert r.status_code == 401


async def test_anonymous_pull_of_a_public_project(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    digest, body = await push_image(client, "library/app", "v1")
    r = await anonymous.get("/v2/library/app/manifests/v1")
    assert r.status_code == 200
    assert r.content == body
    # The same with an anonymous token, as docker and podman do it.
    pull = await token(anonymous, "repository:library/app:pull")
    r = await anonymous.get(f"/v2/library/app/manifests/{digest}", headers=bearer(pull))
    assert r.status_code == 200


async def test_anonymous_caller_of_a_private_project_is_challenged_with_the_scope(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await push_image(client, "team/app", "v1")
    r = await anonymous.get("/v2/team/app/manifests/v1")
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"] == f'{CHALLENGE},scope="repository:team/app:pull"'
    # An anonymous token for it carries no actions, so the pull is still refused.
    refused = await token(anonymous, "repository:team/app:pull")
    r = await anonymous.get("/v2/team/app/manifests/v1", headers=bearer(refused))
    assert_oci_error(r, 401, "UNAUTHORIZED")


async def test_anonymous_push_is_challenged_for_pull_and_push(
    anonymous: httpx.AsyncClient,
) -> None:
    r = await anonymous.post("/v2/library/app/blobs/uploads/")
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"] == f'{CHALLENGE},scope="repository:library/app:pull,push"'


async def test_push_with_a_token_for_the_repository(
    anonymous: httpx.AsyncClient,
) -> None:
    auth = ("admin", ADMIN_PASSWORD)
    push = await token(anonymous, "repository:team/app:pull,push", auth=auth)
    anonymous.headers.update(bearer(push))
    digest, _ = await push_image(anonymous, "team/app", "v1")
    assert (await anonymous.head(f"/v2/team/app/manifests/{digest}")).status_code == 200
    # The token covers one repository, not its neighbours: 403 insufficient_scope
    # (RFC 6750), with the scope to ask for.
    r = await anonymous.get("/v2/team/other/tags/list")
    assert_oci_error(r, 403, "DENIED")
    assert r.headers["WWW-Authenticate"] == (
        f'{CHALLENGE},scope="repository:team/other:pull",error="insufficient_scope"'
    )
    # Nor deletion, which it did not ask for.
    r = await anonymous.delete(f"/v2/team/app/manifests/{digest}")
    assert_oci_error(r, 403, "DENIED")
    assert 'scope="repository:team/app:delete"' in r.headers["WWW-Authenticate"]


async def test_a_token_for_one_repository_does_not_open_another_project(
    anonymous: httpx.AsyncClient,
) -> None:
    pull = await token(anonymous, "repository:team/app:pull", auth=("admin", ADMIN_PASSWORD))
    r = await anonymous.get("/v2/zoo/app/tags/list", headers=bearer(pull))
    assert_oci_error(r, 403, "DENIED")


async def test_push_to_a_project_that_does_not_exist_says_so(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    r = await client.post("/v2/nowhere/app/blobs/uploads/")
    assert_oci_error(r, 404, "NAME_UNKNOWN")
    assert "project 'nowhere' does not exist" in r.json()["errors"][0]["message"]
    push = await token(
        anonymous, "repository:nowhere/app:pull,push", auth=("admin", ADMIN_PASSWORD)
    )
    r = await anonymous.post("/v2/nowhere/app/blobs/uploads/", headers=bearer(push))
    assert_oci_error(r, 404, "NAME_UNKNOWN")


async def test_tampered_and_foreign_tokens_are_refused(anonymous: httpx.AsyncClient) -> None:
    good = await token(anonymous, "repository:library/app:pull")
    header, payload, signature = good.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(b'"pull"', b'"push"')
        )
        .rstrip(b"=")
        .decode()
    )
    r = await anonymous.post(
        "/v2/library/app/blobs/uploads/", headers=bearer(f"{header}.{forged_payload}.{signature}")
    )
    assert_oci_error(r, 401, "UNAUTHORIZED")


async def test_a_member_role_decides_what_basic_credentials_may_do(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/app", "v1")
    user = await registry.users.create("dev", "dev-password")
    project = await registry.projects.get("team")
    auth = ("dev", "dev-password")
    # Not a member: known, but refused.
    assert_oci_error(await anonymous.get("/v2/team/app/tags/list", auth=auth), 403, "DENIED")
    await registry.members.add(project.id, "u", user.id, 3)  # guest: pull only
    assert (await anonymous.get("/v2/team/app/tags/list", auth=auth)).status_code == 200
    r = await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth)
    assert_oci_error(r, 403, "DENIED")
    # The token service grants a guest only what it may do.
    granted = await token(anonymous, "repository:team/app:pull,push,delete", auth=auth)
    r = await anonymous.post("/v2/team/app/blobs/uploads/", headers=bearer(granted))
    assert_oci_error(r, 403, "DENIED")
    assert (
        await anonymous.get("/v2/team/app/tags/list", headers=bearer(granted))
    ).status_code == 200


async def test_catalog_is_for_system_admins(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/app", "v1")
    assert (await client.get("/v2/_catalog")).json()["repositories"] == ["library/app"]
    r = await anonymous.get("/v2/_catalog")
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]
    await registry.users.create("dev", "dev-password")
    assert_oci_error(
        await anonymous.get("/v2/_catalog", auth=("dev", "dev-password")), 403, "DENIED"
    )
    admin_token = await token(anonymous, "registry:catalog:*", auth=("admin", ADMIN_PASSWORD))
    r = await anonymous.get("/v2/_catalog", headers=bearer(admin_token))
    assert r.json()["repositories"] == ["library/app"]
    user_token = await token(anonymous, "registry:catalog:*", auth=("dev", "dev-password"))
    assert_oci_error(await anonymous.get("/v2/_catalog", headers=bearer(user_token)), 403)


async def test_mount_from_a_repository_the_caller_may_not_pull_becomes_an_upload(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/secret", "v1", layers=(b"secret layer",))
    from tests.oci.helpers import digest_of

    user = await registry.users.create("dev", "dev-password")
    await registry.members.add((await registry.projects.get("zoo")).id, "u", user.id, 2)
    r = await anonymous.post(
        "/v2/zoo/app/blobs/uploads/",
        params={"mount": digest_of(b"secret layer"), "from": "team/secret"},
        auth=("dev", "dev-password"),
    )
    assert r.status_code == 202, r.text  # a session, not the other project's blob
    assert (await client.head(f"/v2/zoo/app/blobs/{digest_of(b'secret layer')}")).status_code == 404


async def robot(
    registry: Registry, actions: set[Action], *, project: str = "team", days: int = -1
) -> tuple[int, str, str]:
    created = await registry.robots.create(
        "ci",
        level="project",
        permissions=[RobotPermissionSpec(project, frozenset(actions))],
        duration_days=days,
    )
    return created.robot.id, created.robot.name, created.secret


async def test_robot_gets_only_its_permissions(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/app", "v1")
    _, name, secret = await robot(registry, {Action.REPOSITORY_PULL})
    assert name == "robot$team+ci"
    auth = (name, secret)
    assert (await anonymous.get("/v2/team/app/manifests/v1", auth=auth)).status_code == 200
    assert_oci_error(await anonymous.post("/v2/team/app/blobs/uploads/", auth=auth), 403, "DENIED")
    assert_oci_error(await anonymous.get("/v2/zoo/app/tags/list", auth=auth), 403, "DENIED")
    assert_oci_error(
        await anonymous.get("/v2/team/app/tags/list", auth=(name, "wrong-secret")), 401
    )


async def test_disabled_or_expired_robot_is_refused_at_its_next_request(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "team/app", "v1")
    robot_id, name, secret = await robot(
        registry, {Action.REPOSITORY_PULL, Action.REPOSITORY_PUSH}, days=30
    )
    pull = await token(anonymous, "repository:team/app:pull", auth=(name, secret))
    assert (await anonymous.get("/v2/team/app/tags/list", headers=bearer(pull))).status_code == 200
    await registry.robots.update(robot_id, disabled=True)
    # The token was issued before; the robot is refused all the same.
    r = await anonymous.get("/v2/team/app/tags/list", headers=bearer(pull))
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert "disabled" in r.json()["errors"][0]["message"]
    assert (await anonymous.get("/service/token", auth=(name, secret))).status_code == 401

    await registry.robots.update(robot_id, disabled=False)
    assert (await anonymous.get("/v2/team/app/tags/list", headers=bearer(pull))).status_code == 200
    async with registry.db.write() as conn:
        await conn.execute(
            update(Robot)
            .where(Robot.id == robot_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await anonymous.get("/v2/team/app/tags/list", headers=bearer(pull))
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert "expired" in r.json()["errors"][0]["message"]
    r = await anonymous.get("/v2/team/app/tags/list", auth=(name, secret))
    assert_oci_error(r, 401, "UNAUTHORIZED")

    await registry.robots.delete(robot_id)
    r = await anonymous.get("/v2/team/app/tags/list", headers=bearer(pull))
    assert_oci_error(r, 401, "UNAUTHORIZED")


async def test_refreshed_robot_secret_replaces_the_old_one(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    robot_id, name, secret = await robot(registry, {Action.REPOSITORY_PULL})
    assert (await anonymous.get("/service/token", auth=(name, secret))).status_code == 200
    fresh = await registry.robots.refresh_secret(robot_id)
    assert (await anonymous.get("/service/token", auth=(name, secret))).status_code == 401
    assert (await anonymous.get("/service/token", auth=(name, fresh))).status_code == 200


async def test_every_method_of_every_route_is_guarded(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    """HEAD rides along with every GET route; none may slip past the gate or crash it."""
    location = (await client.post("/v2/team/app/blobs/uploads/")).headers["Location"]
    for method in ("HEAD", "GET", "PATCH", "PUT", "DELETE"):
        r = await anonymous.request(method, location)
        assert r.status_code == 401, (method, r.status_code)
    for path in ("/v2/team/app/tags/list", "/v2/team/app/manifests/v1", "/v2/_catalog"):
        assert (await anonymous.head(path)).status_code == 401, path
