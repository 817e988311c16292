"""Tag retention: the rules (each template, OR, patterns, untagged, immutable tags, what no
rule considers), and policies and runs through the API and the CLI, on SQLite and files
and on PostgreSQL and S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from dockyard.artifacts.models import Manifest
from dockyard.jobs.worker import Worker
from dockyard.projects.retention import Artifact, Rule, decide
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RETENTIONS = "/api/v2.0/retentions"


def artifact(
    n: int, *tags: str, pushed_days: float = 0, pulled_days: float | None = None
) -> Artifact:
    return Artifact(
        id=n,
        digest=f"sha256:{n:064x}",
        tags=tags,
        pushed_at=NOW - timedelta(days=pushed_days),
        pulled_at=None if pulled_days is None else NOW - timedelta(days=pulled_days),
    )


def kept(outcomes: list[Any]) -> set[tuple[str, ...]]:
    return {o.tags for o in outcomes if o.kept}


def removed(outcomes: list[Any]) -> set[tuple[str, ...]]:
    return {o.tags for o in outcomes if not o.kept}


ARTIFACTS = [
    artifact(1, "v1", pushed_days=10, pulled_days=1),
    artifact(2, "v2", pushed_days=5, pulled_days=9),
    artifact(3, "v3", pushed_days=2),
    artifact(4, "dev-1", pushed_days=1, pulled_days=3),
    artifact(5, pushed_days=20),  # untagged
]


def test_latest_pushed_keeps_the_newest_k_of_what_it_considers() -> None:
    outcomes = decide([Rule("latestPushedK", 2, tag_pattern="v*")], "p/app", ARTIFACTS, NOW)
    assert kept(outcomes) == {("v3",), ("v2",)}
    assert removed(outcomes) == {("v1",)}
    # Not considered, so left alone: the dev tag and the untagged artifact.
    assert len(outcomes) == 3
    [gone] = [o for o in outcomes if not o.kept]
    assert gone.reason == "retained by none of rules 1"
    assert next(o for o in outcomes if o.kept).reason.startswith("retained by rule 1: retain the 2")


def test_latest_pulled_and_days_since() -> None:
    rules = [Rule("latestPulledN", 1, tag_pattern="v*")]
    assert kept(decide(rules, "p/app", ARTIFACTS, NOW)) == {("v1",)}
    rules = [Rule("nDaysSinceLastPush", 6)]
    assert kept(decide(rules, "p/app", ARTIFACTS, NOW)) == {("v2",), ("v3",), ("dev-1",)}
    rules = [Rule("nDaysSinceLastPull", 4)]
    outcomes = decide(rules, "p/app", ARTIFACTS, NOW)
    assert kept(outcomes) == {("v1",), ("dev-1",)}
    assert removed(outcomes) == {("v2",), ("v3",)}  # v3 was never pulled


def test_rules_combine_with_or_and_untagged_artifacts_only_when_asked() -> None:
    rules = [
        Rule("latestPushedK", 1, tag_pattern="v*", untagged=True),
        Rule("always", tag_pattern="dev-*"),
    ]
    outcomes = decide(rules, "p/app", ARTIFACTS, NOW)
    assert kept(outcomes) == {("v3",), ("dev-1",)}
    assert removed(outcomes) == {("v1",), ("v2",), ()}
    untagged = next(o for o in outcomes if not o.tags)
    assert untagged.reason == "retained by none of rules 1"


def test_excluding_patterns_and_repositories_no_rule_covers() -> None:
    rules = [Rule("latestPushedK", 1, tag_pattern="dev-*", tag_decoration="excludes")]
    assert removed(decide(rules, "p/app", ARTIFACTS, NOW)) == {("v1",), ("v2",)}
    rules = [Rule("latestPushedK", 1, repository_pattern="team/**")]
    assert decide(rules, "p/app", ARTIFACTS, NOW) == []
    assert decide(rules, "p/team/app", ARTIFACTS, NOW) != []
    rules = [
        Rule("latestPushedK", 1, repository_pattern="app", repository_decoration="repoExcludes")
    ]
    assert decide(rules, "p/app", ARTIFACTS, NOW) == []
    assert decide([Rule("latestPushedK", 1, disabled=True)], "p/app", ARTIFACTS, NOW) == []


def test_label_selectors() -> None:
    labelled = [
        Artifact(1, "sha256:" + "1" * 64, ("a",), NOW, None, ("prod", "eu")),
        Artifact(2, "sha256:" + "2" * 64, ("b",), NOW, None, ("prod",)),
        Artifact(3, "sha256:" + "3" * 64, ("c",), NOW, None, ()),
    ]
    both = Rule("always", labels=("prod", "eu"))
    assert [o.tags for o in decide([both], "p/app", labelled, NOW)] == [("a",)]
    without = Rule("always", labels=("eu",), label_decoration="withoutLabels")
    assert [o.tags for o in decide([without], "p/app", labelled, NOW)] == [("b",), ("c",)]
    assert "withLabels prod,eu" in both.describe()


def test_an_immutable_tag_keeps_its_artifact() -> None:
    outcomes = decide(
        [Rule("latestPushedK", 1)], "p/app", ARTIFACTS, NOW, immutable={"v1": "rule 7"}
    )
    v1 = next(o for o in outcomes if o.tags == ("v1",))
    assert v1.kept
    assert v1.reason == "kept: tag 'v1' is immutable (rule 7)"


# Through the API and the CLI


def policy(project_id: int, *rules: dict[str, Any], cron: str = "") -> dict[str, Any]:
    return {
        "algorithm": "or",
        "rules": list(rules),
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
        "scope": {"level": "project", "ref": project_id},
    }


def rule(
    template: str, count: int | None, tags: str = "**", untagged: bool = False
) -> dict[str, Any]:
    return {
        "action": "retain",
        "template": template,
        "params": {} if count is None else {template: count},
        "tag_selectors": [
            {
                "kind": "doublestar",
                "decoration": "matches",
                "pattern": tags,
                "extras": '{"untagged":true}' if untagged else '{"untagged":false}',
            }
        ],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }


async def run(
    client: httpx.AsyncClient, registry: Registry, policy_id: int, dry: bool
) -> dict[str, Any]:
    r = await client.post(f"{RETENTIONS}/{policy_id}/executions", json={"dry_run": dry})
    assert r.status_code == 201, r.text
    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    assert await worker.run_one(r.json()["id"])
    execution: dict[str, Any] = (await client.get(r.headers["Location"])).json()
    assert execution["status"] == "Success", execution
    return execution


async def pushed_images(client: httpx.AsyncClient, registry: Registry) -> dict[str, str]:
    """Five tagged images in library/app, oldest first, plus an untagged one and an index
    whose children are untagged; their digests by tag."""
    digests = {}
    for n in range(5):
        digests[f"v{n}"], _ = await push_image(client, "library/app", f"v{n}", layers=(b"%d" % n,))
        async with registry.db.write() as conn:
            await conn.execute(
                update(Manifest)
                .where(Manifest.digest == digests[f"v{n}"])
                .values(created_at=datetime.now(UTC) - timedelta(days=10 - n))
            )
    r = await client.delete("/v2/library/app/manifests/v0")  # v0's artifact: untagged now
    assert r.status_code == 202
    children = []
    for arch in ("amd64", "arm64"):
        config = encode({"architecture": arch, "os": "linux"})
        await push_blob(client, "library/app", config)
        await push_blob(client, "library/app", arch.encode())
        body = encode(image_manifest(config, [arch.encode()]))
        assert (await put_manifest(client, "library/app", digest_of(body), body)).status_code == 201
        children.append(descriptor(OCI_MANIFEST, body))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    r = await put_manifest(client, "library/app", "multi", index, OCI_INDEX)
    assert r.status_code == 201
    digests["multi"] = r.headers["Docker-Content-Digest"]
    return digests


async def test_a_policy_dry_run_then_run(client: httpx.AsyncClient, registry: Registry) -> None:
    digests = await pushed_images(client, registry)
    library = (await registry.projects.get("library")).id
    body = policy(
        library,
        rule("latestPushedK", 2, tags="v*", untagged=True),
        rule("always", None, tags="multi"),
    )
    r = await client.post(RETENTIONS, json=body)
    assert r.status_code == 201, r.text
    policy_id = r.json()["id"]
    assert r.headers["Location"] == f"{RETENTIONS}/{policy_id}"
    shown = (await client.get(f"{RETENTIONS}/{policy_id}")).json()
    assert shown["rules"][0]["params"] == {"latestPushedK": 2}
    assert shown["rules"][0]["tag_selectors"][0]["extras"] == '{"untagged":true}'
    assert (await client.post(RETENTIONS, json=body)).status_code == 409
    before = (await registry.quotas.get(library)).artifact_count

    dry = await run(client, registry, policy_id, dry=True)
    assert dry["dry_run"] is True
    assert (dry["kept"], dry["removed"]) == (3, 3)
    results = (await client.get(f"{RETENTIONS}/{policy_id}/executions/{dry['id']}/results")).json()
    actions = {tuple(e["tags"]): e["action"] for e in results}
    assert actions == {
        ("v4",): "retain",
        ("v3",): "retain",
        ("multi",): "retain",
        ("v2",): "remove",
        ("v1",): "remove",
        (): "remove",
    }
    assert (await client.get(f"/v2/library/app/manifests/{digests['v1']}")).status_code == 200

    real = await run(client, registry, policy_id, dry=False)
    assert (real["kept"], real["removed"]) == (3, 3)
    for tag in ("v0", "v1", "v2"):
        r = await client.get(f"/v2/library/app/manifests/{digests[tag]}")
        assert r.status_code == 404, tag
    for tag in ("v3", "v4", "multi"):
        assert (await client.get(f"/v2/library/app/manifests/{tag}")).status_code == 200
    # The index's children were never considered on their own.
    assert (await registry.quotas.get(library)).artifact_count == before - 3
    tasks = (await client.get(f"{RETENTIONS}/{policy_id}/executions/{real['id']}/tasks")).json()
    assert tasks == [
        {
            "id": 1,
            "execution_id": real["id"],
            "repository": "library/app",
            "retained": 3,
            "removed": 3,
            "total": 6,
            "status": "Success",
        }
    ]
    log = await client.get(f"{RETENTIONS}/{policy_id}/executions/{real['id']}/tasks/1")
    assert log.headers["content-type"].startswith("text/plain")
    assert "remove\t" + digests["v1"] in log.text
    runs = (await client.get(f"{RETENTIONS}/{policy_id}/executions")).json()
    assert [e["id"] for e in runs] == [real["id"], dry["id"]]


async def test_a_rule_with_labels_through_the_api(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    digests = await pushed_images(client, registry)
    r = await client.post("/api/v2.0/labels", json={"name": "keep", "scope": "g"})
    assert r.status_code == 201, r.text
    label_id = int(r.headers["Location"].rsplit("/", 1)[-1])
    r = await client.post(
        f"/api/v2.0/projects/library/repositories/app/artifacts/{digests['v1']}/labels",
        json={"id": label_id},
    )
    assert r.status_code == 200, r.text
    library = (await registry.projects.get("library")).id
    labelled = rule("always", None)
    labelled["label_selectors"] = [{"kind": "label", "decoration": "withLabels", "pattern": "keep"}]
    latest = rule("latestPushedK", 1, tags="v*")
    r = await client.post(RETENTIONS, json=policy(library, labelled, latest))
    assert r.status_code == 201, r.text
    assert r.json()["rules"][0]["label_selectors"][0]["pattern"] == "keep"
    dry = await run(client, registry, r.json()["id"], dry=True)
    results = await client.get(f"{RETENTIONS}/{r.json()['id']}/executions/{dry['id']}/results")
    actions = {tuple(e["tags"]): e["action"] for e in results.json()}
    assert actions == {("v1",): "retain", ("v4",): "retain", ("v2",): "remove", ("v3",): "remove"}


async def test_schedule_update_delete_and_who_may(
    client: httpx.AsyncClient, registry: Registry, anonymous: httpx.AsyncClient
) -> None:
    library = (await registry.projects.get("library")).id
    r = await client.post(
        RETENTIONS, json=policy(library, rule("always", None), cron="0 0 1 * * *")
    )
    policy_id = r.json()["id"]
    schedule = await registry.schedules.get_by_name(f"retention-{policy_id}")
    assert schedule.cron == "0 0 1 * * *"
    assert schedule.payload == {"policy_id": policy_id}
    r = await client.put(
        f"{RETENTIONS}/{policy_id}", json=policy(library, rule("latestPushedK", 3))
    )
    assert r.status_code == 200, r.text
    assert r.json()["trigger"]["settings"]["cron"] == ""
    with pytest.raises(Exception, match="not found"):
        await registry.schedules.get_by_name(f"retention-{policy_id}")

    await registry.users.create("dev", "Member-Secret-1")
    dev = (await registry.users.get("dev")).id
    r = await client.post(
        "/api/v2.0/projects/library/members", json={"role_id": 2, "member_user": {"user_id": dev}}
    )
    assert r.status_code == 201, r.text
    async with httpx.AsyncClient(
        transport=client._transport,
        base_url="http://registry.test",
        auth=("dev", "Member-Secret-1"),
    ) as developer:
        assert (await developer.get(f"{RETENTIONS}/{policy_id}")).status_code == 200
        r = await developer.post(f"{RETENTIONS}/{policy_id}/executions", json={"dry_run": True})
        assert r.status_code == 403
        assert (await developer.delete(f"{RETENTIONS}/{policy_id}")).status_code == 403
    assert (await anonymous.get(f"{RETENTIONS}/{policy_id}")).status_code == 401

    assert (await client.delete(f"{RETENTIONS}/{policy_id}")).status_code == 200
    assert (await client.get(f"{RETENTIONS}/{policy_id}")).status_code == 404


@pytest.mark.parametrize(
    "broken",
    [
        {"rules": [rule("latestPushedK", 0)]},
        {"rules": [rule("latestPushedK", None)]},
        {"rules": [rule("sometimes", 3)]},
        {"rules": [rule("always", None)] * 16},
        {"trigger": {"kind": "Schedule", "settings": {"cron": "soon"}}},
        {"scope": {"level": "project", "ref": 999999}},
    ],
)
async def test_bad_policies_are_refused(
    client: httpx.AsyncClient, registry: Registry, broken: dict[str, Any]
) -> None:
    library = (await registry.projects.get("library")).id
    r = await client.post(RETENTIONS, json={**policy(library, rule("always", None)), **broken})
    assert r.status_code in (400, 404), r.text
    assert await registry.retention.of_project(library) is None


async def test_the_cli_runs_a_policy(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    from tests.test_cli import _dockyard, _store_env, _where

    digests = await pushed_images(client, registry)
    where, env = _where(settings), _store_env(settings)
    code, out, err = await _dockyard(
        "retention", "add-rule", "library", "--template", "latestPushedK", "--count", "1",
        "--tags", "v*", "--cron", "0 0 2 * * *", *where, env=env,
    )  # fmt: skip
    assert code == 0, err
    assert out.strip().endswith("has 1 rules")
    code, _, err = await _dockyard(
        "retention", "add-rule", "library", "--template", "latestPushedK", *where, env=env
    )
    assert code == 2
    assert "--count is required" in err
    code, out, err = await _dockyard("retention", "show", "library", *where, env=env)
    assert code == 0, err
    assert "schedule 0 0 2 * * *" in out
    assert "1. retain the 1 most recently pushed artifacts" in out
    code, out, err = await _dockyard("retention", "run", "library", "--dry-run", *where, env=env)
    assert code == 0, err
    assert f"would remove\tlibrary/app@{digests['v1']}\tv1\tretained by none of rules 1" in out
    assert out.strip().endswith("kept 1, would remove 3")
    code, out, err = await _dockyard("retention", "run", "library", *where, env=env)
    assert code == 0, err
    assert out.strip().endswith("kept 1, removed 3")
    assert (await client.get(f"/v2/library/app/manifests/{digests['v3']}")).status_code == 404
    assert (await client.get("/v2/library/app/manifests/v4")).status_code == 200
    code, out, _ = await _dockyard("retention", "run", "team", *where, env=env)
    assert code == 1
    code, out, err = await _dockyard("retention", "delete", "library", *where, env=env)
    assert code == 0, err
    code, out, _ = await _dockyard("retention", "show", "library", *where, env=env)
    assert out.strip() == "project library has no retention policy"
