"""The command line: listing artifacts, untagged ones included, migrating, labels,
immutable tag rules, garbage collection and quotas."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

from dockyard.settings import Settings
from tests.oci.helpers import digest_of, push_blob, push_image
from tests.s3_server import S3Server


async def _dockyard(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI with ``arguments`` (and DOCKYARD_* variables ``env``): exit code, out, err."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dockyard",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env else None,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _where(settings: Settings) -> list[str]:
    """The options that point the CLI at the registry of ``settings``."""
    options = ["--data-dir", str(settings.data_dir)]
    if settings.database.url:
        options += ["--database-url", settings.database.url]
    return options


async def test_artifacts_list_shows_untagged_artifacts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    old, _ = await push_image(client, "library/app", "v1", layers=(b"old",))
    new, _ = await push_image(client, "library/app", "v1", layers=(b"new",))
    await push_image(client, "library/app", "stable", layers=(b"new",))
    code, out, err = await _dockyard("artifacts", "list", "library/app", *_where(settings))
    assert code == 0, err
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert rows[new][1] == "image"
    assert rows[new][3] == "stable,v1"
    assert rows[old][3] == "<untagged>"

    code, out, _ = await _dockyard(
        "artifacts", "list", "library/app", "--untagged", *_where(settings)
    )
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == [old]
    # The untagged artifact is still pullable by its digest.
    assert (await client.get(f"/v2/library/app/manifests/{old}")).status_code == 200


async def test_artifacts_list_of_an_unknown_repository_fails_clearly(settings: Settings) -> None:
    code, _, err = await _dockyard("artifacts", "list", "library/none", *_where(settings))
    assert code == 1
    assert "repository name not known" in err


async def test_migrate_creates_the_schema(settings: Settings) -> None:
    code, out, err = await _dockyard("migrate", *_where(settings))
    assert code == 0, err
    assert "newest schema" in out
    # The embedded default makes its database file; PostgreSQL needs none.
    assert (settings.data_dir / "dockyard.db").exists() == (not settings.database.url)


async def test_labels_from_the_command_line(client: httpx.AsyncClient, settings: Settings) -> None:
    digest, _ = await push_image(client, "library/app", "v1")
    where = _where(settings)
    code, out, err = await _dockyard("labels", "create", "prod", "--color", "#0a0", *where)
    assert code == 0, err
    label_id = int(out.split("(id ")[1].rstrip(")\n"))
    code, out, err = await _dockyard(
        "labels", "create", "mine", "--project", "library", "--description", "ours", *where
    )
    assert code == 0, err
    assert "created project library label mine" in out
    code, _, err = await _dockyard("labels", "create", "prod", *where)
    assert code == 1
    assert "exists already" in err
    code, _, err = await _dockyard("labels", "create", "bad", "--color", "red", *where)
    assert code == 1
    assert "color" in err

    code, out, _ = await _dockyard("labels", "list", *where)
    assert out.splitlines() == [f"{label_id}\tprod\t#0a0\t"]
    code, out, _ = await _dockyard("labels", "list", "--project", "library", *where)
    assert [line.split("\t")[1:] for line in out.splitlines()] == [["mine", "", "ours"]]

    code, _, err = await _dockyard("artifacts", "label", "library/app", "v1", str(label_id), *where)
    assert code == 0, err
    r = await client.get("/api/v2.0/projects/library/repositories/app/artifacts/v1")
    assert [label["name"] for label in r.json()["labels"]] == ["prod"]
    code, _, err = await _dockyard("artifacts", "label", "library/app", "v1", str(label_id), *where)
    assert code == 1
    assert "already" in err
    code, _, err = await _dockyard(
        "artifacts", "label", "library/app", digest, str(label_id), "--remove", *where
    )
    assert code == 0, err
    r = await client.get("/api/v2.0/projects/library/repositories/app/artifacts/v1")
    assert r.json()["labels"] == []

    code, out, err = await _dockyard("labels", "delete", str(label_id), *where)
    assert code == 0, err
    code, _, err = await _dockyard("labels", "delete", str(label_id), *where)
    assert code == 1
    assert f"no label with id {label_id}" in err


async def test_immutable_tag_rules_from_the_command_line(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await push_image(client, "library/app", "v1")
    await push_image(client, "library/app", "latest", layers=(b"latest",))
    where = _where(settings)
    code, out, err = await _dockyard(
        "immutability", "add", "library", "--tags", "latest", "--exclude-tags", *where
    )
    assert code == 0, err
    rule_id = int(out.split("rule ")[1].split()[0])
    code, out, _ = await _dockyard("immutability", "list", "library", *where)
    assert out.splitlines() == [f"{rule_id}\trepoMatches **\texcludes latest\tenabled"]
    r = await client.delete("/v2/library/app/manifests/v1")
    assert r.status_code == 403
    assert "immutable" in r.text
    assert (await client.delete("/v2/library/app/manifests/latest")).status_code == 202
    code, _, err = await _dockyard("immutability", "add", "library", "--tags", "{a,b}" * 11, *where)
    assert code == 1
    assert "invalid tag pattern" in err

    code, _, err = await _dockyard("immutability", "delete", "library", str(rule_id), *where)
    assert code == 0, err
    assert (await client.delete("/v2/library/app/manifests/v1")).status_code == 202
    code, _, err = await _dockyard("immutability", "delete", "library", str(rule_id), *where)
    assert code == 1
    assert "no immutable tag rule" in err


def _store_env(settings: Settings) -> dict[str, str]:
    """The variables that give the CLI the registry's blob store (S3 needs its settings)."""
    if settings.storage.driver == "s3":
        return S3Server.environment(settings.storage.s3)
    return {}


async def test_gc_runs_with_a_progress_bar_keeps_history_and_schedules(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await push_image(client, "library/app", "v1", layers=(b"kept",))
    orphan = await push_blob(client, "library/app", b"orphan")
    where, env = _where(settings), _store_env(settings)

    code, out, err = await _dockyard(
        "gc", "run", "--dry-run", "--grace-minutes", "0", *where, env=env
    )
    assert code == 0, err
    assert "would delete 0 untagged artifacts, 1 blobs (6 bytes)" in out
    assert "dry run done" in err  # the progress bar's last state, on stderr
    assert (await client.head(f"/v2/library/app/blobs/{orphan}")).status_code == 200

    code, out, err = await _dockyard("gc", "run", "--grace-minutes", "0", *where, env=env)
    assert code == 0, err
    assert "deleted 0 untagged artifacts, 1 blobs (6 bytes)" in out
    assert (await client.head(f"/v2/library/app/blobs/{orphan}")).status_code == 404
    assert (await client.get("/v2/library/app/manifests/v1")).status_code == 200

    code, out, err = await _dockyard("gc", "history", *where, env=env)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split("\t")[1] == "succeeded"
    assert "would delete" in lines[1]

    code, out, err = await _dockyard("gc", "schedule", "--type", "Weekly", *where, env=env)
    assert code == 0, err
    assert out.startswith("Weekly (0 0 0 * * 0), next at ")
    code, out, _ = await _dockyard("gc", "schedule", *where, env=env)
    assert out.startswith("Weekly")
    code, _, err = await _dockyard("gc", "schedule", "--type", "Custom", *where, env=env)
    assert code == 1
    assert "needs a cron expression" in err
    code, out, _ = await _dockyard("gc", "schedule", "--type", "None", *where, env=env)
    assert out.strip() == "no scheduled garbage collection"


async def test_quota_set_show_and_check(client: httpx.AsyncClient, settings: Settings) -> None:
    await push_image(client, "library/app", "v1", layers=(b"q" * 100,))
    where = _where(settings)
    code, out, err = await _dockyard("quota", "set", "library", "--storage", "2KiB", *where)
    assert code == 0, err
    assert out.startswith("library\tstorage ")
    assert "of 2048 bytes\tartifacts 1 of unlimited" in out
    code, out, err = await _dockyard("quota", "set", "library", "--count", "3", *where)
    assert "artifacts 1 of 3" in out
    code, out, _ = await _dockyard("quota", "show", *where)
    assert any(line.startswith("library\t") for line in out.splitlines())
    assert any(line.startswith("team\tstorage 0 of unlimited") for line in out.splitlines())
    code, out, err = await _dockyard("quota", "check", *where)
    assert code == 0, err
    assert all(line.endswith("\tok") for line in out.splitlines())
    code, _, err = await _dockyard("quota", "set", "library", "--storage", "lots", *where)
    assert code == 2
    assert "give -1 (unlimited)" in err
    r = await client.post(
        "/v2/library/app/blobs/uploads/",
        params={"digest": digest_of(b"z" * 4096)},
        content=b"z" * 4096,
    )
    assert r.status_code == 403
