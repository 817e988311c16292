"""A NUL character anywhere in a request, to the API or the data plane, is a 400 on both
backends: no name or text holds one, and PostgreSQL cannot store or even compare one
(it was a 503 there, found by schemathesis)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "url", "params", "body"),
    [
        ("GET", "/api/v2.0/users", {"username": "ad\x00min"}, None),
        ("GET", "/api/v2.0/projects", {"name": "\x00"}, None),
        ("GET", "/api/v2.0/audit-logs", {"resource": "a\x00"}, None),
        ("GET", "/api/v2.0/projects/lib%00x", None, None),
        ("GET", "/api/v2.0/projects/lib/repositories/a%00b/artifacts", None, None),
        (
            "POST",
            "/api/v2.0/users",
            None,
            {
                "username": "eve",
                "email": "e\x00@x.org",
                "realname": "Eve",
                "password": "Eve-Secret-1",
            },
        ),
        ("POST", "/api/v2.0/projects", None, {"project_name": "ok", "metadata": {"k\x00": "v"}}),
        ("POST", "/api/v2.0/labels", None, {"name": "x", "description": "\x00"}),
        (
            "POST",
            "/api/v2.0/robots",
            None,
            {"name": "ci", "level": "system", "description": "\x00", "permissions": []},
        ),
    ],
)
async def test_a_nul_character_is_400(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
) -> None:
    r = await client.request(method, url, params=params, json=body)
    assert r.status_code == 400, r.text
    assert "NUL" in r.json()["errors"][0]["message"]
    # Nothing was created on the way.
    assert "eve" not in (await client.get("/api/v2.0/users")).text


@pytest.mark.parametrize(
    "url",
    [
        "/v2/library/app/tags/list?last=%00",
        "/v2/_catalog?last=a%00",
        "/v2/library/app/referrers/sha256:" + "0" * 64 + "?artifactType=%00",
        "/v2/library/a%00p/manifests/v1",
    ],
)
async def test_a_nul_character_on_the_data_plane_is_400(
    client: httpx.AsyncClient, url: str
) -> None:
    r = await client.get(url)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert (error["code"], error["message"]) == (
        "UNSUPPORTED",
        "NUL characters are not allowed in paths or parameters",
    )
