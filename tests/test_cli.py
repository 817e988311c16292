"""The command line: listing artifacts, untagged ones included, and migrating."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

from dockyard.settings import Settings
from tests.oci.helpers import push_image


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
