"""The advisory database: imports (zips, directories, files; incremental; withdrawn and
invalid records), its version, matching an inventory against it, and the CLI's
``vulndb import``, ``vulndb status`` and ``scan``; on both backends."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import httpx

from dockyard.registry import Registry
from dockyard.scanning.packages import Distro, Inventory, Package
from dockyard.settings import Settings
from tests.oci.helpers import push_image
from tests.scanning.test_scans import debian_image, installed, osv_record
from tests.test_cli import _dockyard, _store_env, _where

DEBIAN = Distro("debian", "12", "bookworm")


def write(folder: Path, *records: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    for record in records:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    return folder


def deb(name: str, version: str, source: str = "", source_version: str = "") -> Package:
    return Package(
        "deb",
        name,
        version,
        "var/lib/dpkg/status",
        source_name=source or name,
        source_version=source_version or version,
    )


async def test_an_import_is_incremental(registry: Registry, tmp_path: Path) -> None:
    first = osv_record("DSA-1-1", "Debian:12", "openssl", "3.0.20-1")
    second = osv_record("PYSEC-2099-1", "PyPI", "Django", "4.2.1")
    other = osv_record("RUSTSEC-2099-1", "crates.io", "regex", "1.0.0")
    result = await registry.vulndb.import_paths([write(tmp_path / "a", first, second, other)])
    assert (result.records, result.added, result.skipped) == (3, 2, 1)

    again = await registry.vulndb.import_paths([tmp_path / "a"])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)

    # Newer: the new ranges replace the old. Withdrawn: gone. Broken: counted and named.
    changed = {**first, "modified": "2026-11-01T00:00:00Z"}
    changed["affected"][0]["ranges"][0]["events"][1]["fixed"] = "3.0.21-1"
    withdrawn = {**second, "modified": "2026-11-01T00:00:00Z", "withdrawn": "2026-11-01T00:00:00Z"}
    folder = write(tmp_path / "b", changed, withdrawn)
    (folder / "broken.json").write_text("{not json")
    result = await registry.vulndb.import_paths([folder])
    assert (result.updated, result.withdrawn, result.invalid) == (1, 1, 1)
    assert "broken.json" in result.errors[0]

    version = await registry.vulndb.version()
    assert version.advisories == 1
    assert version.modified is not None
    assert version.modified.year == 2026
    assert version.imported_at is not None

    findings = await registry.vulndb.match(
        Inventory(
            DEBIAN,
            [
                deb("libssl3", "3.0.20-1", "openssl"),
                Package("pypi", "django", "4.0", "usr/lib/python3/dist-packages/x/METADATA"),
            ],
        )
    )
    assert [(f.package.name, f.advisory_id, f.fixed_version) for f in findings] == [
        ("libssl3", "DSA-1-1", "3.0.21-1")
    ]


async def test_an_osv_dump_and_distribution_aware_matching(
    registry: Registry, tmp_path: Path
) -> None:
    records = [
        osv_record("DSA-2-1", "Debian:12", "zlib", "1:1.2.13.dfsg-2", aliases=("CVE-2099-2",)),
        osv_record("DSA-3-1", "Debian:11", "zlib", "1:1.2.13.dfsg-2"),
        osv_record("USN-1-1", "Ubuntu:22.04:LTS", "zlib", "1:9"),
        osv_record("GHSA-aaaa-bbbb-cccc", "PyPI", "Requests", "2.31.0"),
    ]
    dump = tmp_path / "all.zip"
    with zipfile.ZipFile(dump, "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    result = await registry.vulndb.import_paths([dump])
    assert result.added == 4

    inventory = Inventory(
        DEBIAN,
        [
            # Matched by source name and version, reported under the binary's.
            deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
            # Fixed already.
            deb("zlib1g-dev", "1:1.2.13.dfsg-2", "zlib"),
            Package(
                "pypi", "requests", "2.30.0", "site-packages/requests-2.30.0.dist-info/METADATA"
            ),
            Package("pypi", "requests", "2.31.0", "venv/requests-2.31.0.dist-info/METADATA"),
        ],
    )
    findings = await registry.vulndb.match(inventory)
    assert [(f.package.name, f.package.version, f.advisory_id) for f in findings] == [
        ("requests", "2.30.0", "GHSA-aaaa-bbbb-cccc"),
        ("zlib1g", "1:1.2.13.dfsg-1", "CVE-2099-2"),
    ]
    assert findings[1].aliases == ("DSA-2-1",)
    assert findings[1].severity == "Critical"
    # The same packages on Ubuntu 22.04 meet only the Ubuntu advisory; without a
    # distribution, no distribution package is matched at all.
    ubuntu = Inventory(Distro("ubuntu", "22.04", "jammy"), inventory.packages[:1])
    assert [f.advisory_id for f in await registry.vulndb.match(ubuntu)] == ["USN-1-1"]
    assert await registry.vulndb.match(Inventory(None, inventory.packages[:2])) == []


async def test_the_cli_imports_shows_status_and_scans(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    _, source, source_version = installed("libssl3")
    folder = write(
        tmp_path / "osv",
        osv_record("DSA-4-1", "Debian:12", source, source_version + "+1", aliases=("CVE-2099-4",)),
    )
    where, env = _where(settings), _store_env(settings)
    code, out, err = await _dockyard("vulndb", "import", str(folder), *where, env=env)
    assert code == 0, err
    assert out.startswith("read 1 records: 1 added, 0 updated, 0 unchanged")
    assert "importing advisories" in err  # the progress bar, on stderr
    code, out, err = await _dockyard("vulndb", "status", *where, env=env)
    assert code == 0, err
    assert "advisories: 1" in out

    code, _, err = await _dockyard("vulndb", "import", str(tmp_path / "missing"), *where, env=env)
    assert code == 2
    assert "does not exist" in err

    await push_image(client, "library/app", "v1", layers=(debian_image(),))
    code, out, err = await _dockyard("scan", "library/app:v1", "--sbom", *where, env=env)
    assert code == 0, err
    assert "vulnerabilities, worst Critical; SBOM sha256:" in out
    code, out, err = await _dockyard("scan", "library/app:nope", *where, env=env)
    assert code == 1
    assert "not found" in err or "unknown" in err.lower()


async def test_the_scanner_command_wants_a_key_beyond_loopback(settings: Settings) -> None:
    code, _, err = await _dockyard(
        "scanner", "--host", "0.0.0.0", "--port", "0", *_where(settings), env=_store_env(settings)
    )
    assert code == 1
    assert "set scanning.api_key" in err
