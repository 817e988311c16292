"""OpenID Connect login against a real provider (oidc-provider in Node.js, see tests/oidc/)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from dockyard.access.identities import ExternalGroup
from dockyard.access.oidc import OidcClient, OidcLogin
from dockyard.errors import Unauthorized, Unavailable
from tests.access.conftest import REDIRECT_URI
from tests.oidc_server import OidcProvider, log_in
from tests.servers import free_port


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """A fresh cookie jar: no provider session left over from another test."""
    async with httpx.AsyncClient() as client:
        yield client


async def _callback(
    browser: httpx.AsyncClient, client: OidcClient, username: str, password: str
) -> tuple[OidcLogin, dict[str, str]]:
    """Begin a login, log in at the provider, and return what the callback would receive."""
    login = await client.begin(REDIRECT_URI)
    final = httpx.URL(await log_in(browser, login.url, username, password))
    assert str(final.copy_with(query=None)) == REDIRECT_URI
    return login, dict(final.params)


@pytest.mark.parametrize(
    ("username", "realname", "groups", "admin"),
    [
        ("alice", "Alice Liddell", ("developers",), False),
        ("bob", "Bob Builder", ("developers", "auditors"), False),
        ("carol", "Carol Danvers", ("dockyard-admins",), True),
    ],
)
async def test_login_yields_the_identity_and_groups_the_provider_holds(
    oidc_provider: OidcProvider,
    browser: httpx.AsyncClient,
    username: str,
    realname: str,
    groups: tuple[str, ...],
    admin: bool,
) -> None:
    client = OidcClient(oidc_provider.settings(admin_group="dockyard-admins"))
    login, params = await _callback(browser, client, username, f"{username}-secret")

    identity = await client.complete(REDIRECT_URI, login, params)

    assert identity.subject == f"{oidc_provider.issuer}|{username}"
    assert identity.username == username
    assert identity.email == f"{username}@example.test"
    assert identity.realname == realname
    assert identity.groups == tuple(ExternalGroup(external_id=g, name=g) for g in groups)
    assert identity.admin is admin


async def test_without_an_admin_group_nobody_is_admin(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login, params = await _callback(browser, client, "carol", "carol-secret")

    identity = await client.complete(REDIRECT_URI, login, params)

    assert [g.name for g in identity.groups] == ["dockyard-admins"]
    assert identity.admin is False


@pytest.mark.parametrize(
    ("claim", "expected"),
    [("email", "bob@example.test"), ("no_such_claim", "bob")],
)
async def test_the_username_comes_from_the_configured_claim_or_else_the_subject(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient, claim: str, expected: str
) -> None:
    client = OidcClient(oidc_provider.settings(username_claim=claim))
    login, params = await _callback(browser, client, "bob", "bob-secret")

    identity = await client.complete(REDIRECT_URI, login, params)

    assert identity.username == expected


async def test_begin_asks_for_code_with_a_fresh_s256_challenge_state_and_nonce(
    oidc_provider: OidcProvider,
) -> None:
    client = OidcClient(oidc_provider.settings(scopes=["profile"]))

    first, second = await client.begin(REDIRECT_URI), await client.begin(REDIRECT_URI)

    params = httpx.URL(first.url).params
    digest = hashlib.sha256(first.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert params["code_challenge_method"] == "S256"
    assert params["response_type"] == "code"
    assert params["scope"] == "openid profile"
    assert (params["state"], params["nonce"]) == (first.state, first.nonce)
    assert {first.state, first.nonce, first.code_verifier}.isdisjoint(
        {second.state, second.nonce, second.code_verifier}
    )


async def test_a_wrong_password_shows_the_login_form_again(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login = await client.begin(REDIRECT_URI)

    with pytest.raises(AssertionError, match=r"login form again.*Invalid username or password"):
        await log_in(browser, login.url, "alice", "bob-secret")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p: {**p, "state": p["state"][:-1] + "x"}, id="tampered-state"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "state"}, id="no-state"),
        pytest.param(lambda p: {**p, "state": "\u00e9t\u00e9"}, id="non-ascii-state"),
        pytest.param(lambda p: {**p, "iss": "http://evil.test"}, id="another-issuer"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "code"}, id="no-code"),
    ],
)
async def test_a_forged_callback_is_refused_before_the_code_is_spent(
    oidc_provider: OidcProvider,
    browser: httpx.AsyncClient,
    forge: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    client = OidcClient(oidc_provider.settings())
    login, params = await _callback(browser, client, "alice", "alice-secret")

    with pytest.raises(Unauthorized):
        await client.complete(REDIRECT_URI, login, forge(params))
    # The genuine callback still works: the forged one was refused before the exchange.
    assert (await client.complete(REDIRECT_URI, login, params)).username == "alice"


async def test_a_callback_without_a_kept_login_is_refused(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    _, params = await _callback(browser, client, "alice", "alice-secret")
    lost = OidcLogin(url="", state="", nonce="", code_verifier="")

    with pytest.raises(Unauthorized, match="state does not match"):
        await client.complete(REDIRECT_URI, lost, {k: v for k, v in params.items() if k != "state"})


async def test_a_code_is_good_for_one_login_only(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login, params = await _callback(browser, client, "alice", "alice-secret")
    assert (await client.complete(REDIRECT_URI, login, params)).username == "alice"

    with pytest.raises(Unauthorized, match="refused the code"):
        await client.complete(REDIRECT_URI, login, params)


async def test_the_code_needs_the_verifier_it_was_issued_for(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login, params = await _callback(browser, client, "alice", "alice-secret")
    other = dataclasses.replace(login, code_verifier=login.code_verifier[::-1])

    with pytest.raises(Unauthorized, match="refused the code"):
        await client.complete(REDIRECT_URI, other, params)


async def test_an_id_token_for_another_nonce_is_refused(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login, params = await _callback(browser, client, "alice", "alice-secret")

    with pytest.raises(Unauthorized, match="ID token is not valid"):
        await client.complete(REDIRECT_URI, dataclasses.replace(login, nonce="replayed"), params)


class _TamperingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the provider, and gives the ID token it issues a new payload."""

    def __init__(self, groups: list[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.groups = groups
        self.original_claims: dict[str, object] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/token"):
            return response
        tokens = json.loads(await response.aread())
        header, payload, signature = tokens["id_token"].split(".")
        self.original_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        forged = {**self.original_claims, "groups": self.groups}
        encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        tokens["id_token"] = f"{header}.{encoded}.{signature}"
        return httpx.Response(response.status_code, json=tokens)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_id_token_with_a_changed_payload_is_refused(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    transport = _TamperingTransport(groups=["dockyard-admins"])
    settings = oidc_provider.settings(admin_group="dockyard-admins")
    client = OidcClient(settings, transport=transport)
    login, params = await _callback(browser, client, "alice", "alice-secret")

    with pytest.raises(Unauthorized, match="ID token is not valid"):
        await client.complete(REDIRECT_URI, login, params)
    # The provider did put the claims into the ID token, not only into userinfo.
    assert transport.original_claims["groups"] == ["developers"]
    assert transport.original_claims["preferred_username"] == "alice"


async def test_the_providers_error_is_reported(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    client = OidcClient(oidc_provider.settings())
    login = await client.begin(REDIRECT_URI)
    # prompt=none without a provider session: the provider answers login_required.
    response = await browser.get(f"{login.url}&prompt=none")
    params = dict(httpx.URL(response.headers["location"]).params)
    assert params["error"] == "login_required"

    with pytest.raises(Unauthorized, match="End-User authentication is required") as refused:
        await client.complete(REDIRECT_URI, login, params)
    assert refused.value.detail == {"error": "login_required"}


async def test_an_unreachable_provider_is_unavailable(oidc_provider: OidcProvider) -> None:
    client = OidcClient(oidc_provider.settings(issuer=f"http://127.0.0.1:{free_port()}"))

    with pytest.raises(Unavailable, match="cannot be reached"):
        await client.begin(REDIRECT_URI)
