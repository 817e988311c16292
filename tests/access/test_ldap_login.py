"""auth.mode ldap end to end: directory users log in to the token endpoint and /v2/,
are onboarded, get project roles through their LDAP groups; the admin keeps its login."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from dockyard.access.ldap import LdapDirectory
from dockyard.access.rbac import Role
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.conftest import BACKENDS, backend_settings
from tests.ldap_server import SlapdServer, group_dn
from tests.servers import ADMIN


@pytest.fixture(params=BACKENDS)
async def settings(request: pytest.FixtureRequest, tmp_path: Path, slapd: SlapdServer) -> Settings:
    settings = await backend_settings(request, tmp_path, request.param)
    settings.auth.mode = "ldap"
    settings.auth.ldap = slapd.settings()
    return settings


async def granted(client: httpx.AsyncClient, auth: tuple[str, str], scope: str) -> list[object]:
    r = await client.get("/service/token", params={"scope": scope}, auth=auth)
    assert r.status_code == 200, r.text
    access: list[object] = jwt.decode(r.json()["token"], options={"verify_signature": False})[
        "access"
    ]
    return access


async def test_directory_user_is_onboarded_with_its_groups(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    r = await anonymous.get("/v2/", auth=("alice", "alice-secret"))
    assert r.status_code == 200
    alice = await registry.users.get("alice")
    assert (alice.source, alice.email, alice.realname) == (
        "ldap",
        "alice@dockyard.test",
        "Alice Liddell",
    )
    assert not alice.admin
    principal = await registry.users.principal("alice")
    assert principal is not None
    assert len(principal.group_ids) == 1  # developers


async def test_ldap_group_membership_gives_project_roles(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    project = await registry.projects.get("team")
    scope = "repository:team/app:pull,push"
    assert await granted(anonymous, ("alice", "alice-secret"), scope) == []
    developers = await registry.users.ensure_group("ldap", group_dn("developers"), "developers")
    await registry.members.add(project.id, "g", developers, Role.DEVELOPER)
    assert await granted(anonymous, ("alice", "alice-secret"), scope) == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    # bob is a developer too; carol is not in the group.
    assert await granted(anonymous, ("bob", "bob-secret"), scope) != []
    assert await granted(anonymous, ("carol", "carol-secret"), "repository:zoo/app:pull") != []


async def test_admin_group_makes_system_admins(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    assert (await anonymous.get("/v2/_catalog", auth=("carol", "carol-secret"))).status_code == 200
    assert (await registry.users.get("carol")).admin


async def test_wrong_directory_password_and_unknown_users_are_refused(
    anonymous: httpx.AsyncClient,
) -> None:
    for auth in [("alice", "wrong"), ("alice", ""), ("mallory", "x"), ("alice)(uid=*", "x")]:
        r = await anonymous.get("/service/token", auth=auth)
        assert r.status_code == 401, auth


async def test_local_admin_still_logs_in_in_ldap_mode(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/v2/", auth=ADMIN)).status_code == 200


async def test_directory_down_is_503_not_500(
    anonymous: httpx.AsyncClient, registry: Registry, slapd: SlapdServer
) -> None:
    registry.access.directory = LdapDirectory(slapd.settings(url="ldap://127.0.0.1:9"))
    r = await anonymous.get("/v2/", auth=("alice", "alice-secret"))
    assert r.status_code == 503
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
    # The local admin does not depend on the directory.
    assert (await anonymous.get("/v2/", auth=ADMIN)).status_code == 200
