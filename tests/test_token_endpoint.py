"""``/service/token``: the GET of token.md and the OAuth2 POST of oauth.md."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.conftest import ADMIN_PASSWORD


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_token_carries_the_granted_scopes_only(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get(
        "/service/token",
        params=[
            ("service", "dockyard"),
            ("scope", "repository:library/app:pull,push"),
            ("scope", "repository:team/app:pull"),
            ("scope", "registry:catalog:*"),
            ("scope", "not a scope"),
        ],
    )
    assert r.status_code == 200
    body = claims(r.json()["token"])
    assert body["sub"] == ""
    assert body["aud"] == "dockyard"
    # Anonymous: pull of the public library, nothing of the private project or the catalog.
    assert body["access"] == [{"type": "repository", "name": "library/app", "actions": ["pull"]}]


async def test_admin_gets_every_action_it_asks_for(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get(
        "/service/token",
        params={"scope": "repository:team/app:pull,push,delete registry:catalog:*"},
        auth=("admin", ADMIN_PASSWORD),
    )
    body = claims(r.json()["token"])
    assert body["sub"] == "admin"
    assert body["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push", "delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert body["exp"] - body["iat"] == 1800


async def test_star_asks_for_everything_the_caller_may(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get("/service/token", params={"scope": "repository:library/app:*"})
    assert claims(r.json()["token"])["access"] == [
        {"type": "repository", "name": "library/app", "actions": ["pull"]}
    ]


async def test_tokens_carry_a_libtrust_key_id(anonymous: httpx.AsyncClient) -> None:
    token = (await anonymous.get("/service/token")).json()["token"]
    kid = jwt.get_unverified_header(token)["kid"]
    assert len(kid.split(":")) == 12
    assert all(len(part) == 4 for part in kid.split(":"))


async def test_another_service_is_refused(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get("/service/token", params={"service": "registry.docker.io"})
    assert r.status_code == 400
    assert "dockyard" in r.json()["errors"][0]["message"]


async def test_too_many_scopes_is_a_bad_request(anonymous: httpx.AsyncClient) -> None:
    params = [("scope", f"repository:library/app{i}:pull") for i in range(65)]
    r = await anonymous.get("/service/token", params=params)
    assert r.status_code == 400


async def test_password_grant(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.post(
        "/service/token",
        data={
            "grant_type": "password",
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "service": "dockyard",
            "client_id": "test",
            "scope": "repository:team/app:pull",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "repository:team/app:pull"
    assert claims(body["access_token"])["sub"] == "admin"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "username": "admin", "password": "wrong"},
            401,
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, 400, "unsupported_grant_type"),
        ({}, 400, "unsupported_grant_type"),
    ],
)
async def test_password_grant_errors(
    anonymous: httpx.AsyncClient, form: dict[str, str], status: int, error: str
) -> None:
    r = await anonymous.post("/service/token", data=form)
    assert r.status_code == status
    assert r.json()["error"] == error


async def test_a_body_that_is_not_a_form(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.post(
        "/service/token", content=b"\xff\xfe{", headers={"Content-Type": "multipart/form-data"}
    )
    assert r.status_code == 400
