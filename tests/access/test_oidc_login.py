"""auth.mode oidc end to end: the console's login through the provider, onboarding,
group claims as project members, and the CLI secret that registry clients use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from dockyard.access.rbac import Role
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.conftest import BACKENDS, backend_settings
from tests.oidc_server import OidcProvider, log_in
from tests.servers import ADMIN

BASE = "http://registry.test"


@pytest.fixture(params=BACKENDS)
async def settings(
    request: pytest.FixtureRequest, tmp_path: Path, oidc_provider: OidcProvider
) -> Settings:
    settings = await backend_settings(request, tmp_path, request.param)
    settings.auth.mode = "oidc"
    settings.auth.oidc = oidc_provider.settings(admin_group="dockyard-admins")
    return settings


@pytest.fixture
async def browser(registry_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """One cookie jar for the provider (over sockets) and the app (in process)."""
    app = httpx.ASGITransport(app=registry_app)
    async with httpx.AsyncClient(mounts={BASE: app}) as client:
        yield client


async def oidc_log_in(browser: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    started = await browser.get(f"{BASE}/c/oidc/login")
    assert started.status_code == 302, started.text
    callback = await log_in(browser, started.headers["Location"], username, password)
    return await browser.get(callback)


async def test_login_onboards_the_user_and_opens_a_session(
    browser: httpx.AsyncClient, registry: Registry
) -> None:
    landed = await oidc_log_in(browser, "alice", "alice-secret")
    assert landed.status_code == 303, landed.text
    assert landed.headers["Location"] == "/api/v2.0/users/current"
    me = await browser.get(f"{BASE}/api/v2.0/users/current")
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["auth_source"]) == ("alice", "oidc")
    assert not me.json()["sysadmin_flag"]
    alice = await registry.users.principal("alice")
    assert alice is not None
    assert len(alice.group_ids) == 1
    # Logging out ends the session.
    await browser.post(f"{BASE}/c/log_out")
    assert (await browser.get(f"{BASE}/api/v2.0/users/current")).status_code == 401


async def test_admin_group_claim_makes_a_system_admin(browser: httpx.AsyncClient) -> None:
    await oidc_log_in(browser, "carol", "carol-secret")
    me = await browser.get(f"{BASE}/api/v2.0/users/current")
    assert me.json()["sysadmin_flag"] is True


async def test_cli_secret_is_the_password_of_registry_clients(
    browser: httpx.AsyncClient, registry: Registry
) -> None:
    await oidc_log_in(browser, "bob", "bob-secret")
    me = (await browser.get(f"{BASE}/api/v2.0/users/current")).json()
    secret = (await browser.put(f"{BASE}/api/v2.0/users/{me['user_id']}/cli_secret")).json()[
        "secret"
    ]
    # The provider password is not a registry password; the CLI secret is.
    assert (await browser.get(f"{BASE}/v2/", auth=("bob", "bob-secret"))).status_code == 401
    assert (await browser.get(f"{BASE}/v2/", auth=("bob", secret))).status_code == 200
    # The OIDC group "developers" as a member of a project gives bob its role there.
    project = await registry.projects.get("team")
    group = await registry.users.ensure_group("oidc", "developers", "developers")
    await registry.members.add(project.id, "g", group, Role.DEVELOPER)
    r = await browser.get(
        f"{BASE}/service/token",
        params={"scope": "repository:team/app:pull,push"},
        auth=("bob", secret),
    )
    assert r.status_code == 200
    # A new secret replaces the old one.
    fresh = (await browser.put(f"{BASE}/api/v2.0/users/{me['user_id']}/cli_secret")).json()[
        "secret"
    ]
    assert (await browser.get(f"{BASE}/v2/", auth=("bob", secret))).status_code == 401
    assert (await browser.get(f"{BASE}/v2/", auth=("bob", fresh))).status_code == 200


async def test_forged_or_replayed_callbacks_are_refused(browser: httpx.AsyncClient) -> None:
    started = await browser.get(f"{BASE}/c/oidc/login")
    callback = httpx.URL(
        await log_in(browser, started.headers["Location"], "alice", "alice-secret")
    )
    forged = callback.copy_set_param("state", "someone-elses-state")
    r = await browser.get(forged)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # The login in flight was spent by the forged answer: the real one is refused too.
    assert (await browser.get(callback)).status_code == 401
    assert (await browser.get(f"{BASE}/api/v2.0/users/current")).status_code == 401


async def test_open_redirects_are_sent_home(browser: httpx.AsyncClient) -> None:
    started = await browser.get(f"{BASE}/c/oidc/login", params={"redirect_url": "//evil.test/x"})
    callback = await log_in(browser, started.headers["Location"], "alice", "alice-secret")
    landed = await browser.get(callback)
    assert landed.headers["Location"] == "/api/v2.0/users/current"


async def test_without_onboarding_unknown_users_are_refused(
    browser: httpx.AsyncClient, registry: Registry
) -> None:
    registry.settings.auth.oidc.auto_onboard = False
    r = await oidc_log_in(browser, "alice", "alice-secret")
    assert r.status_code == 403
    with pytest.raises(Exception, match="no user"):
        await registry.users.get("alice")


async def test_local_admin_keeps_its_password_in_oidc_mode(browser: httpx.AsyncClient) -> None:
    assert (await browser.get(f"{BASE}/v2/", auth=ADMIN)).status_code == 200
    login = await browser.post(
        f"{BASE}/c/login", data={"principal": ADMIN[0], "password": ADMIN[1]}
    )
    assert login.status_code == 200
    assert (await browser.get(f"{BASE}/api/v2.0/users/current")).json()["username"] == "admin"
