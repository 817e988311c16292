"""/api/v2.0/labels and an artifact's labels: global and project labels, who may manage
and attach them, the artifact list's label filter, and what deleting takes with it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dockyard.registry import Registry
from tests.api.conftest import DEVELOPER, GUEST, MAINTAINER, MemberClient
from tests.oci.helpers import push_image

LABELS = "/api/v2.0/labels"
ARTIFACTS = "/api/v2.0/projects/app/repositories/web/artifacts"


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post(LABELS, json=body)
    assert r.status_code == 201, r.text
    label: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"{LABELS}/{label['id']}"
    return label


async def project_id(registry: Registry, name: str) -> int:
    return (await registry.projects.get(name)).id


def error(response: httpx.Response) -> str:
    message: str = response.json()["errors"][0]["message"]
    return message


async def test_global_labels_are_managed_by_system_admins_and_read_by_anyone_logged_in(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, member: MemberClient
) -> None:
    label = await create(client, name="prod", description="in production", color="#00AA00")
    # Harbor's clients send project_id 0 with a global label: ignored.
    assert (await create(client, name="other", scope="g", project_id=0))["project_id"] == 0
    assert {k: label[k] for k in ("name", "description", "color", "scope", "project_id")} == {
        "name": "prod",
        "description": "in production",
        "color": "#00AA00",
        "scope": "g",
        "project_id": 0,
    }
    user = await member("user")
    r = await user.get(LABELS, params={"scope": "g"})
    assert r.status_code == 200
    assert [x["name"] for x in r.json()] == ["other", "prod"]
    assert r.headers["X-Total-Count"] == "2"
    assert (await user.get(f"{LABELS}/{label['id']}")).json()["name"] == "prod"
    assert (await anonymous.get(LABELS)).status_code == 401
    # Only a system admin changes them.
    assert (await user.post(LABELS, json={"name": "mine"})).status_code == 403
    assert (await user.put(f"{LABELS}/{label['id']}", json={"name": "x"})).status_code == 403
    assert (await user.delete(f"{LABELS}/{label['id']}")).status_code == 403
    r = await client.put(f"{LABELS}/{label['id']}", json={"name": "production", "color": "#0a0"})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["color"], r.json()["description"]) == (
        "production",
        "#0a0",
        "in production",
    )
    assert r.json()["update_time"] >= label["update_time"]
    assert (await client.delete(f"{LABELS}/{label['id']}")).status_code == 200
    assert (await client.get(f"{LABELS}/{label['id']}")).status_code == 404


async def test_project_labels_are_managed_by_maintainers_and_read_by_members(
    client: httpx.AsyncClient, registry: Registry, member: MemberClient
) -> None:
    app = await project_id(registry, "app")
    maintainer = await member("maint", {"app": MAINTAINER})
    developer = await member("dev", {"app": DEVELOPER})
    outsider = await member("outsider")
    label = await create(maintainer, name="team-a", scope="p", project_id=app)
    assert (label["scope"], label["project_id"]) == ("p", app)
    r = await developer.post(LABELS, json={"name": "b", "scope": "p", "project_id": app})
    assert r.status_code == 403
    r = await developer.get(LABELS, params={"scope": "p", "project_id": app})
    assert [x["name"] for x in r.json()] == ["team-a"]
    # A private project's labels do not exist for someone who is no member.
    r = await outsider.get(LABELS, params={"scope": "p", "project_id": app})
    assert r.status_code == 404
    assert (await outsider.get(f"{LABELS}/{label['id']}")).status_code == 404
    r = await outsider.post(LABELS, json={"name": "c", "scope": "p", "project_id": app})
    assert r.status_code == 404
    # Global labels are not listed with a project's, nor the other way round.
    await create(client, name="global-one")
    r = await client.get(LABELS, params={"scope": "p", "project_id": app})
    assert [x["name"] for x in r.json()] == ["team-a"]
    assert [x["name"] for x in (await client.get(LABELS)).json()] == ["global-one"]
    assert (await maintainer.delete(f"{LABELS}/{label['id']}")).status_code == 200


async def test_names_are_unique_within_a_scope_only(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    app, lib = await project_id(registry, "app"), await project_id(registry, "lib")
    await create(client, name="stable")
    assert (await client.post(LABELS, json={"name": "stable"})).status_code == 409
    ours = await create(client, name="stable", scope="p", project_id=app)
    await create(client, name="stable", scope="p", project_id=lib)
    r = await client.post(LABELS, json={"name": "stable", "scope": "p", "project_id": app})
    assert r.status_code == 409
    other = await create(client, name="beta", scope="p", project_id=app)
    r = await client.put(f"{LABELS}/{other['id']}", json={"name": "stable"})
    assert r.status_code == 409
    # Renaming a label to its own name changes nothing and is no conflict.
    r = await client.put(f"{LABELS}/{ours['id']}", json={"name": "stable"})
    assert r.status_code == 200
    r = await client.get(LABELS, params={"scope": "p", "project_id": app, "name": "STA"})
    assert [x["id"] for x in r.json()] == [ours["id"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "name"),
        ({"name": " padded"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "tab\tin"}, "name"),
        ({"name": "nul\u0000"}, "NUL"),
        ({"name": "ok", "color": "green"}, "color"),
        ({"name": "ok", "color": "#12345"}, "color"),
        ({"name": "ok", "description": "d" * 1025}, "description"),
        ({"name": "ok", "scope": "p"}, "project_id"),
        ({"name": "ok", "scope": "x"}, "scope"),
        ({"name": 5}, "name"),
    ],
)
async def test_invalid_labels_are_400(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    r = await client.post(LABELS, json=body)
    assert r.status_code == 400, r.text
    assert message in r.text


async def test_a_project_label_of_a_missing_project_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(LABELS, json={"name": "x", "scope": "p", "project_id": 99999})
    assert r.status_code == 404


async def test_developers_put_labels_on_artifacts_and_the_list_filters_by_them(
    client: httpx.AsyncClient, registry: Registry, member: MemberClient
) -> None:
    app, lib = await project_id(registry, "app"), await project_id(registry, "lib")
    v1, _ = await push_image(client, "app/web", "v1")
    v2, _ = await push_image(client, "app/web", "v2", layers=(b"two",))
    stable = await create(client, name="stable")
    team = await create(client, name="team", scope="p", project_id=app)
    foreign = await create(client, name="theirs", scope="p", project_id=lib)
    developer = await member("dev", {"app": DEVELOPER})
    guest = await member("guest", {"app": GUEST})

    for reference, label in (("v1", stable), ("v1", team), (v2, stable)):
        r = await developer.post(f"{ARTIFACTS}/{reference}/labels", json={"id": label["id"]})
        assert r.status_code == 200, r.text
    r = await developer.post(f"{ARTIFACTS}/v1/labels", json={"id": stable["id"]})
    assert r.status_code == 409
    r = await developer.post(f"{ARTIFACTS}/v1/labels", json={"id": foreign["id"]})
    assert r.status_code == 400
    assert "another project" in error(r)
    assert (await developer.post(f"{ARTIFACTS}/v1/labels", json={"id": 99999})).status_code == 404
    r = await guest.post(f"{ARTIFACTS}/v1/labels", json={"id": stable["id"]})
    assert r.status_code == 403
    assert (await developer.post(f"{ARTIFACTS}/v9/labels", json={"id": 1})).status_code == 404

    artifact = (await guest.get(f"{ARTIFACTS}/v1")).json()
    assert [x["name"] for x in artifact["labels"]] == ["stable", "team"]
    listed = (await guest.get(ARTIFACTS)).json()
    assert {a["digest"]: [x["name"] for x in a["labels"]] for a in listed} == {
        v1: ["stable", "team"],
        v2: ["stable"],
    }
    r = await guest.get(ARTIFACTS, params={"label": stable["id"]})
    assert sorted(a["digest"] for a in r.json()) == sorted([v1, v2])
    r = await guest.get(ARTIFACTS, params=[("label", stable["id"]), ("label", team["id"])])
    assert [a["digest"] for a in r.json()] == [v1]
    assert r.headers["X-Total-Count"] == "1"
    assert (await guest.get(ARTIFACTS, params={"label": 0})).status_code == 400

    url = f"{ARTIFACTS}/v1/labels/{team['id']}"
    assert (await guest.delete(url)).status_code == 403
    assert (await developer.delete(url)).status_code == 200
    assert (await developer.delete(url)).status_code == 404
    assert [x["name"] for x in (await guest.get(f"{ARTIFACTS}/v1")).json()["labels"]] == ["stable"]


async def test_deleting_a_label_or_an_artifact_takes_the_attachment_with_it(
    client: httpx.AsyncClient,
) -> None:
    v1, _ = await push_image(client, "app/web", "v1")
    await push_image(client, "app/web", "v2", layers=(b"two",))
    gone = await create(client, name="gone")
    kept = await create(client, name="kept")
    for reference in ("v1", "v2"):
        for label in (gone, kept):
            r = await client.post(f"{ARTIFACTS}/{reference}/labels", json={"id": label["id"]})
            assert r.status_code == 200
    assert (await client.delete(f"{LABELS}/{gone['id']}")).status_code == 200
    for reference in ("v1", "v2"):
        labels = (await client.get(f"{ARTIFACTS}/{reference}")).json()["labels"]
        assert [x["name"] for x in labels] == ["kept"]
    assert (await client.delete(f"{ARTIFACTS}/{v1}")).status_code == 200
    r = await client.get(ARTIFACTS, params={"label": kept["id"]})
    assert [a["tags"][0]["name"] for a in r.json()] == ["v2"]
    # The label itself stays.
    assert (await client.get(f"{LABELS}/{kept['id']}")).status_code == 200


async def test_label_changes_reach_the_audit_log(client: httpx.AsyncClient) -> None:
    await push_image(client, "app/web", "v1")
    label = await create(client, name="audited")
    r = await client.post(f"{ARTIFACTS}/v1/labels", json={"id": label["id"]})
    assert r.status_code == 200
    assert (await client.delete(f"{ARTIFACTS}/v1/labels/{label['id']}")).status_code == 200
    assert (await client.delete(f"{LABELS}/{label['id']}")).status_code == 200
    logs = (await client.get("/api/v2.0/audit-logs", params={"page_size": 20})).json()
    seen = [(e["operation"], e["resource_type"]) for e in logs if "label" in e["resource_type"]]
    assert seen == [
        ("delete", "label"),
        ("delete", "artifact_label"),
        ("create", "artifact_label"),
        ("create", "label"),
    ]
