"""Immutable tag rules: /projects/{project}/immutabletagrules, and what a rule protects on
the data plane and in the API, from everyone, system admins included."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dockyard.artifacts.models import Manifest
from dockyard.artifacts.services import ManifestService
from dockyard.errors import Denied
from dockyard.registry import Registry
from tests.api.conftest import DEVELOPER, GUEST, MAINTAINER, MemberClient
from tests.oci.helpers import OCI_MANIFEST, encode, image_manifest, push_blob, push_image

RULES = "/api/v2.0/projects/app/immutabletagrules"
API = "/api/v2.0/projects/app/repositories/web"


def rule(
    tag: str = "**",
    repository: str = "**",
    *,
    tag_decoration: str = "matches",
    repository_decoration: str = "repoMatches",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tag}],
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": repository_decoration, "pattern": repository}
            ]
        },
        **extra,
    }


async def add_rule(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(RULES, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"{RULES}/{created['id']}"
    return created


def denied(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    error = response.json()["errors"][0]
    # The data plane's code is the spec's DENIED; the API's is Harbor's FORBIDDEN.
    expected = "DENIED" if response.request.url.path.startswith("/v2/") else "FORBIDDEN"
    assert error["code"] == expected
    message: str = error["message"]
    assert "immutable" in message
    return message


async def push_other(client: httpx.AsyncClient, name: str, tag: str) -> httpx.Response:
    """Push a new manifest (a new layer) to ``tag``; the response."""
    config, layer = b'{"os":"linux"}', b"another layer for " + tag.encode()
    for blob in (config, layer):
        await push_blob(client, name, blob)
    return await client.put(
        f"/v2/{name}/manifests/{tag}",
        content=encode(image_manifest(config, [layer])),
        headers={"Content-Type": OCI_MANIFEST},
    )


async def test_maintainers_manage_rules_and_members_read_them(
    client: httpx.AsyncClient, member: MemberClient
) -> None:
    maintainer = await member("maint", {"app": MAINTAINER})
    developer = await member("dev", {"app": DEVELOPER})
    guest = await member("guest", {"app": GUEST})
    created = await add_rule(maintainer, rule("v*", "web"))
    assert created["tag_selectors"] == [
        {"kind": "doublestar", "decoration": "matches", "pattern": "v*"}
    ]
    assert created["scope_selectors"] == {
        "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "web"}]
    }
    assert (created["disabled"], created["action"]) == (False, "immutable")
    assert (await developer.post(RULES, json=rule())).status_code == 403
    r = await guest.get(RULES)
    assert [x["id"] for x in r.json()] == [created["id"]]
    assert r.headers["X-Total-Count"] == "1"
    url = f"{RULES}/{created['id']}"
    assert (await developer.put(url, json=rule(disabled=True))).status_code == 403
    r = await maintainer.put(url, json=rule("release-*", "**", disabled=True))
    assert r.status_code == 200, r.text
    assert (r.json()["disabled"], r.json()["tag_selectors"][0]["pattern"]) == (True, "release-*")
    assert (await developer.delete(url)).status_code == 403
    assert (await maintainer.delete(url)).status_code == 200
    assert (await maintainer.delete(url)).status_code == 404
    assert (await client.get(RULES)).json() == []
    logs = (await client.get("/api/v2.0/audit-logs", params={"page_size": 50})).json()
    changes = [
        (e["operation"], e["username"]) for e in logs if e["resource_type"] == "immutable_rule"
    ]
    assert changes == [("delete", "maint"), ("update", "maint"), ("create", "maint")]
    # A rule of another project is not reachable through this one.
    other = (await client.post("/api/v2.0/projects/lib/immutabletagrules", json=rule())).json()
    assert (await client.delete(f"{RULES}/{other['id']}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        rule(""),
        rule("x" * 256),
        rule("v*", tag_decoration="repoMatches"),
        rule("v*", repository_decoration="matches"),
        {**rule(), "tag_selectors": []},
        {**rule(), "tag_selectors": rule()["tag_selectors"] * 2},
        {**rule(), "scope_selectors": {"repository": []}},
        {"tag_selectors": rule()["tag_selectors"]},
        {**rule(), "action": "retain"},
        {**rule(), "priority": -1},
        rule("bad\npattern"),
        rule("{a,b}" * 11),  # 2048 patterns once the braces expand
    ],
)
async def test_invalid_rules_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post(RULES, json=body)
    assert r.status_code == 400, r.text


async def test_a_project_holds_at_most_fifteen_rules(client: httpx.AsyncClient) -> None:
    for n in range(15):
        await add_rule(client, rule(f"t{n}"))
    r = await client.post(RULES, json=rule("one-more"))
    assert r.status_code == 400
    assert "at most 15" in r.text


async def test_an_immutable_tag_cannot_be_moved_or_deleted_by_anyone(
    client: httpx.AsyncClient,
) -> None:
    v1, body = await push_image(client, "app/web", "v1")
    latest, _ = await push_image(client, "app/web", "latest", layers=(b"latest",))
    await add_rule(client, rule("v*"))

    # Pushing the same manifest again is no change; the first push of a new tag is allowed.
    r = await client.put(
        "/v2/app/web/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    assert (await push_other(client, "app/web", "v2")).status_code == 201
    # Moving it is not, nor deleting it, on the data plane or in the API.
    denied(await push_other(client, "app/web", "v1"))
    denied(await client.delete("/v2/app/web/manifests/v1"))
    denied(await client.delete(f"/v2/app/web/manifests/{v1}"))
    denied(await client.delete(f"{API}/artifacts/v1/tags/v1"))
    denied(await client.delete(f"{API}/artifacts/{v1}"))
    denied(await client.delete(API))
    # A copy that would move the tag.
    await push_image(client, "app/src", "v1", layers=(b"from elsewhere",))
    denied(await client.post(f"{API}/artifacts", params={"from": "app/src:v1"}))
    # Nothing changed.
    r = await client.get("/v2/app/web/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == v1
    # Tags the rule does not cover stay free.
    assert (await push_other(client, "app/web", "latest")).status_code == 201
    assert (await client.delete("/v2/app/web/manifests/latest")).status_code == 202
    assert (await client.delete(f"/v2/app/web/manifests/{latest}")).status_code == 202


async def test_the_api_marks_immutable_tags(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    await client.post(f"{API}/artifacts/v1/tags", json={"name": "latest"})
    await add_rule(client, rule("latest", tag_decoration="excludes"))
    artifact = (await client.get(f"{API}/artifacts/v1")).json()
    assert {t["name"]: t["immutable"] for t in artifact["tags"]} == {"latest": False, "v1": True}
    tags = (await client.get(f"{API}/artifacts/v1/tags")).json()
    assert {t["name"]: t["immutable"] for t in tags} == {"latest": False, "v1": True}


@pytest.mark.parametrize(
    ("body", "web_v1_immutable"),
    [
        (rule("v1", "web"), True),
        (rule("v1", "other"), False),
        (rule("v1", "other", repository_decoration="repoExcludes"), True),
        (rule("v1", "{web,api}"), True),
        (rule("v[0-9]"), True),
        (rule("v1", tag_decoration="excludes"), False),
        (rule("v1", disabled=True), False),
    ],
)
async def test_selectors_decorations_and_disabled_rules(
    client: httpx.AsyncClient, body: dict[str, Any], web_v1_immutable: bool
) -> None:
    await push_image(client, "app/web", "v1")
    await add_rule(client, body)
    r = await client.delete("/v2/app/web/manifests/v1")
    if web_v1_immutable:
        denied(r)
    else:
        assert r.status_code == 202, r.text


async def test_rules_match_the_repository_inside_the_project(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/team/web", "v1")
    await add_rule(client, rule("v1", "team/*"))
    denied(await client.delete("/v2/app/team/web/manifests/v1"))
    await push_image(client, "app/web", "v1")
    assert (await client.delete("/v2/app/web/manifests/v1")).status_code == 202


async def test_two_pushes_racing_to_create_a_covered_tag_cannot_both_win(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    # The first push of a covered tag is allowed; a second one, racing with it to point
    # the same new tag elsewhere, must be refused rather than move it (PostgreSQL:
    # without the repository's row lock, the second upsert moved the tag).
    first, _ = await push_image(client, "app/web", "a")
    second, _ = await push_image(client, "app/web", "b", layers=(b"second",))
    await add_rule(client, rule("v1"))
    async with registry.db.read() as conn:
        rows = await conn.execute(
            select(Manifest.repository_id, Manifest.id, Manifest.digest).where(
                Manifest.digest.in_([first, second])
            )
        )
        found = {row.digest: (row.repository_id, row.id) for row in rows}
    repository_id = found[first][0]
    holding = asyncio.Event()

    async def create_and_hold() -> None:
        async with registry.db.write() as conn:
            await ManifestService.set_tag(conn, repository_id, "v1", found[first][1])
            holding.set()
            await asyncio.sleep(0.3)  # the racing push runs meanwhile

    async def race() -> None:
        await holding.wait()
        async with registry.db.write() as conn:
            await ManifestService.set_tag(conn, repository_id, "v1", found[second][1])

    holder = asyncio.create_task(create_and_hold())
    with pytest.raises(Denied):
        await race()
    await holder
    r = await client.get("/v2/app/web/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == first
