"""Scanning through the API with the built-in scanner, on SQLite and files and on
PostgreSQL and S3: a scan's report and overview, scan on push, the SBOM attached as a
referrer, the pull-blocking policy with allowlists, and the scan events.

The image is real data: this machine's own dpkg database and os-release in a layer.
The advisories are OSV records written for the installed version of a real package
(openssl, the source of libssl3), so that the expected findings hold on any Debian 12.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.jobs.worker import Worker
from dockyard.registry import Registry
from dockyard.scanning.reports import VULNERABILITY_REPORT
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

ARTIFACTS = "/api/v2.0/projects/library/repositories/app/artifacts"
DPKG_STATUS = Path("/var/lib/dpkg/status")


def dpkg_installed() -> dict[str, tuple[str, str, str]]:
    """Each installed package's (version, source name, source version), read from dpkg's
    file here by a parser of the test's own."""
    found = {}
    for paragraph in DPKG_STATUS.read_text().split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in paragraph.splitlines()
            if ": " in line and line[0] != " "
        )
        if fields.get("Status") == "install ok installed":
            package, version = fields["Package"], fields["Version"]
            source, _, source_version = fields.get("Source", package).partition(" ")
            found[package] = (version, source, source_version.strip("()") or version)
    return found


def installed(package: str) -> tuple[str, str, str]:
    """(version, source name, source version) of an installed package."""
    held = dpkg_installed().get(package)
    assert held is not None, f"{package} is not installed here"
    return held


def layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), mtime=0)


def debian_image() -> bytes:
    return layer(
        {
            "etc/os-release": Path("/etc/os-release").read_bytes(),
            "var/lib/dpkg/status": DPKG_STATUS.read_bytes(),
        }
    )


def osv_record(
    advisory_id: str, ecosystem: str, name: str, fixed: str, *, aliases: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": "2026-10-01T10:00:00Z",
        "published": "2026-09-30T10:00:00Z",
        "aliases": list(aliases),
        "summary": f"{name}: a flaw fixed in {fixed}",
        "details": "Test advisory in the OSV schema.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://example.org/{advisory_id}"}],
    }


@pytest.fixture
def openssl() -> tuple[str, str, str]:
    return installed("libssl3")


@pytest.fixture
async def advisories(registry: Registry, tmp_path: Path, openssl: tuple[str, str, str]) -> None:
    _, source, source_version = openssl
    records = [
        # Fixed after the installed version: libssl3 (and openssl) are affected.
        osv_record(
            "DEBIAN-CVE-2099-0001",
            "Debian:12",
            source,
            source_version + "+1",
            aliases=("CVE-2099-0001",),
        ),
        # Fixed in the installed version: not affected.
        osv_record("DEBIAN-CVE-2099-0002", "Debian:12", source, source_version),
        # Another release's advisory: never matched against Debian 12.
        osv_record("DEBIAN-CVE-2099-0003", "Debian:11", source, source_version + "+1"),
    ]
    folder = tmp_path / "osv"
    folder.mkdir()
    for record in records:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    result = await registry.vulndb.import_paths([folder])
    assert result.added == 3


async def work(registry: Registry) -> None:
    """Run the queued jobs (scans) to their end, one by one."""
    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    deadline = time.monotonic() + 60
    while True:
        queued, _ = await registry.jobs.search(status="queued")
        if not queued:
            return
        for job in queued:
            await asyncio.wait_for(worker.run_one(job.id), 60)
        assert time.monotonic() < deadline, "the scans did not end"


async def scanned(client: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    r = await client.get(f"{ARTIFACTS}/{reference}", params={"with_scan_overview": "true"})
    assert r.status_code == 200, r.text
    overview: dict[str, Any] = r.json()["scan_overview"][VULNERABILITY_REPORT]
    return overview


async def test_a_scan_reports_exactly_the_affected_packages(
    client: httpx.AsyncClient, registry: Registry, advisories: None, openssl: tuple[str, str, str]
) -> None:
    digest, _ = await push_image(client, "library/app", "v1", layers=(debian_image(),))
    r = await client.post(f"{ARTIFACTS}/v1/scan")
    assert r.status_code == 202, r.text
    assert (await scanned(client, "v1"))["scan_status"] == "Pending"
    await work(registry)

    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Success", overview
    assert overview["severity"] == "Critical"
    assert overview["scanner"]["name"] == "dockyard"
    r = await client.get(f"{ARTIFACTS}/{digest}/additions/vulnerabilities")
    assert r.status_code == 200, r.text
    report = r.json()[VULNERABILITY_REPORT]
    found = {(v["id"], v["package"]) for v in report["vulnerabilities"]}
    # Every installed binary package built from openssl, and nothing else.
    binaries = {p for p, (_, source, _) in dpkg_installed().items() if source == openssl[1]}
    assert "libssl3" in binaries
    assert found == {("CVE-2099-0001", package) for package in binaries}
    libssl = next(v for v in report["vulnerabilities"] if v["package"] == "libssl3")
    assert libssl["version"] == openssl[0]
    assert libssl["fix_version"] == openssl[2] + "+1"
    assert libssl["severity"] == "Critical"
    assert libssl["preferred_cvss"]["score_v3"] == 9.8
    assert "DEBIAN-CVE-2099-0001" in libssl["vendor_attributes"]["aliases"]
    assert overview["summary"] == {
        "total": len(binaries),
        "fixable": len(binaries),
        "summary": {"Critical": len(binaries)},
    }

    r = await client.get(f"{ARTIFACTS}/v1/additions/vulnerabilities", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["package"] for row in rows} == binaries
    assert {row["path"] for row in rows} == {"var/lib/dpkg/status"}

    events = (
        await client.get("/api/v2.0/audit-logs", params={"operation": "scan_completed"})
    ).json()
    assert [e["resource"] for e in events] == [f"library/app@{digest}"]


async def test_scan_on_push_and_the_sbom_referrer(
    client: httpx.AsyncClient, registry: Registry, advisories: None
) -> None:
    r = await client.put(
        "/api/v2.0/projects/library/metadatas",
        json={"auto_scan": "true", "auto_sbom_generation": "true"},
    )
    assert r.status_code == 200, r.text
    digest, _ = await push_image(client, "library/app", "v1", layers=(debian_image(),))
    await work(registry)
    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Success"

    r = await client.get(f"/v2/library/app/referrers/{digest}")
    referrers = r.json()["manifests"]
    assert [m["artifactType"] for m in referrers] == ["application/vnd.cyclonedx+json"]
    sbom_manifest = (
        await client.get(
            f"/v2/library/app/manifests/{referrers[0]['digest']}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    ).json()
    assert sbom_manifest["subject"]["digest"] == digest
    document = (
        await client.get(f"/v2/library/app/blobs/{sbom_manifest['layers'][0]['digest']}")
    ).json()
    assert document["bomFormat"] == "CycloneDX"
    purls = {c.get("purl", "") for c in document["components"]}
    version = installed("libssl3")[0]
    assert any(p.startswith(f"pkg:deb/debian/libssl3@{version.replace(':', '%3A')}") for p in purls)

    r = await client.get(f"{ARTIFACTS}/v1", params={"with_sbom_overview": "true"})
    assert r.json()["sbom_overview"]["sbom_digest"] == referrers[0]["digest"]

    # A new scan replaces dockyard's SBOM rather than adding one.
    assert (
        await client.post(f"{ARTIFACTS}/v1/scan", json={"scan_type": "sbom"})
    ).status_code == 202
    await work(registry)
    r = await client.get(f"/v2/library/app/referrers/{digest}")
    assert len(r.json()["manifests"]) == 1


async def test_prevent_vulnerable_images_with_allowlists(
    client: httpx.AsyncClient,
    developer: httpx.AsyncClient,
    registry: Registry,
    advisories: None,
) -> None:
    await push_image(client, "library/app", "v1", layers=(debian_image(),))
    await push_image(client, "library/app", "clean", layers=(layer({"hello": b"world"}),))
    r = await client.put(
        "/api/v2.0/projects/library/metadatas",
        json={"prevent_vul": "true", "severity": "high"},
    )
    assert r.status_code == 200
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}

    # Not scanned yet: refused, with the reason.
    r = await developer.get("/v2/library/app/manifests/v1", headers=accept)
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "not been scanned" in r.json()["errors"][0]["message"]

    for tag in ("v1", "clean"):
        assert (await client.post(f"{ARTIFACTS}/{tag}/scan")).status_code == 202
    await work(registry)

    r = await developer.get("/v2/library/app/manifests/v1", headers=accept)
    assert r.status_code == 403
    message = r.json()["errors"][0]["message"]
    assert "CVE-2099-0001 (Critical)" in message
    assert "High or higher" in message
    # HEAD only looks; an image without findings pulls; the admin is never stopped.
    assert (await developer.head("/v2/library/app/manifests/v1", headers=accept)).status_code == 200
    assert (
        await developer.get("/v2/library/app/manifests/clean", headers=accept)
    ).status_code == 200
    assert (await client.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 200

    # The project's own allowlist lets it through; once expired, it does not.
    allowlist = "/api/v2.0/projects/library/cve_allowlist"
    r = await client.put(allowlist, json={"items": [{"cve_id": "CVE-2099-0001"}]})
    assert r.status_code == 200, r.text
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 200
    r = await client.put(
        allowlist, json={"items": [{"cve_id": "CVE-2099-0001"}], "expires_at": int(time.time()) - 5}
    )
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 403

    # The system's list counts only for projects that reuse it.
    r = await client.put(
        "/api/v2.0/system/CVEAllowlist", json={"items": [{"cve_id": "CVE-2099-0001"}]}
    )
    assert r.status_code == 200
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 403
    await client.put(
        "/api/v2.0/projects/library/metadatas", json={"reuse_sys_cve_allowlist": "true"}
    )
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 200

    # A threshold above the worst finding lets it through too.
    await client.put(allowlist, json={"items": []})
    await client.put(
        "/api/v2.0/projects/library/metadatas",
        json={"reuse_sys_cve_allowlist": "false", "severity": "critical"},
    )
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 403
    await client.put("/api/v2.0/projects/library/metadatas", json={"prevent_vul": "false"})
    assert (await developer.get("/v2/library/app/manifests/v1", headers=accept)).status_code == 200


async def test_scanning_bad_requests(
    client: httpx.AsyncClient, developer: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/app", "v1", layers=(layer({"a": b"b"}),))
    r = await client.post(f"{ARTIFACTS}/nope/scan")
    assert r.status_code == 404
    r = await client.post(f"{ARTIFACTS}/v1/scan", json={"scan_type": "everything"})
    assert r.status_code == 400
    r = await client.post(f"{ARTIFACTS}/v1/scan/stop")
    assert r.status_code == 409
    r = await developer.post(f"{ARTIFACTS}/v1/scan")
    assert r.status_code == 403
    r = await client.get(f"{ARTIFACTS}/v1/additions/vulnerabilities")
    assert r.status_code == 404
    r = await client.put(
        "/api/v2.0/system/CVEAllowlist", json={"items": [{"cve_id": "not a cve; drop"}]}
    )
    assert r.status_code == 400
    r = await developer.get("/api/v2.0/system/CVEAllowlist")
    assert r.status_code == 403


async def push_index(client: httpx.AsyncClient, name: str, tag: str, layer_data: bytes) -> str:
    """An index of two images (amd64, arm64) that share one layer; its digest."""
    children = []
    for arch in ("amd64", "arm64"):
        config = encode({"architecture": arch, "os": "linux", "created": "2026-11-29T00:00:00Z"})
        await push_blob(client, name, config)
        await push_blob(client, name, layer_data)
        body = encode(image_manifest(config, [layer_data]))
        assert (await put_manifest(client, name, digest_of(body), body)).status_code == 201
        children.append(
            descriptor(OCI_MANIFEST, body, platform={"architecture": arch, "os": "linux"})
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    r = await put_manifest(client, name, tag, index, OCI_INDEX)
    assert r.status_code == 201, r.text
    return str(r.headers["Docker-Content-Digest"])


async def test_scan_all_with_an_index_scanned_per_image(
    client: httpx.AsyncClient, developer: httpx.AsyncClient, registry: Registry, advisories: None
) -> None:
    await push_image(client, "library/app", "v1", layers=(debian_image(),))
    await push_index(client, "library/app", "multi", debian_image())
    schedule = "/api/v2.0/system/scanAll/schedule"
    assert (
        await developer.post(schedule, json={"schedule": {"type": "Manual"}})
    ).status_code == 403
    r = await client.post(schedule, json={"schedule": {"type": "Manual"}})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert r.json()["ongoing"] is True
    assert (await client.post(schedule, json={"schedule": {"type": "Manual"}})).status_code == 409

    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    assert await asyncio.wait_for(worker.run_one(run_id), 60)
    metrics = (await client.get("/api/v2.0/scans/all/metrics")).json()
    assert metrics["ongoing"] is False
    assert (metrics["total"], metrics["completed"]) == (3, 3)
    assert metrics["metrics"] == {"Success": 3}
    assert metrics["trigger"] == "Manual"
    assert (await client.get("/api/v2.0/scans/schedule/metrics")).json()["total"] == 0

    # The index: its images' reports, summed.
    single = (await scanned(client, "v1"))["summary"]["total"]
    overview = await scanned(client, "multi")
    assert overview["scan_status"] == "Success"
    assert overview["summary"]["total"] == 2 * single
    r = await client.get(f"{ARTIFACTS}/multi/additions/vulnerabilities")
    assert len(r.json()[VULNERABILITY_REPORT]["vulnerabilities"]) == 2 * single

    r = await client.put(schedule, json={"schedule": {"type": "Daily"}})
    assert r.status_code == 200, r.text
    assert (await client.get(schedule)).json()["schedule"]["type"] == "Daily"
    r = await client.put(schedule, json={"schedule": {"type": "Custom", "cron": "0 30 2 * * *"}})
    assert r.json()["schedule"] == {
        "type": "Custom",
        "cron": "0 30 2 * * *",
        "next_scheduled_time": r.json()["schedule"]["next_scheduled_time"],
    }
    assert (await client.put(schedule, json={"schedule": {"type": "Custom"}})).status_code == 400
    r = await client.put(schedule, json={"schedule": {"type": "None"}})
    assert (await client.get(schedule)).json()["schedule"]["type"] == "None"
    assert (await client.post("/api/v2.0/system/scanAll/stop")).status_code == 409


async def test_a_scan_stopped_before_it_ran(
    client: httpx.AsyncClient, registry: Registry, advisories: None
) -> None:
    await push_image(client, "library/app", "v1", layers=(debian_image(),))
    assert (await client.post(f"{ARTIFACTS}/v1/scan")).status_code == 202
    assert (await client.post(f"{ARTIFACTS}/v1/scan/stop")).status_code == 202
    await work(registry)
    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Stopped"
    log = await client.get(f"{ARTIFACTS}/v1/scan/{overview['report_id']}/log")
    assert log.text == "stopped before it started"


async def test_a_scan_whose_worker_died_reads_as_failed(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await push_image(client, "library/app", "v1", layers=(layer({"a": b"b"}),))
    assert (await client.post(f"{ARTIFACTS}/v1/scan")).status_code == 202
    (job,), _ = await registry.jobs.search(status="queued")
    claim = await registry.jobs.claim("a-worker-that-dies", job.id)
    assert claim is not None
    assert (await scanned(client, "v1"))["scan_status"] == "Pending"
    await registry.jobs.fail(claim.lease, "the worker was lost", retry=False)
    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Error"
    log = await client.get(f"{ARTIFACTS}/v1/scan/{overview['report_id']}/log")
    assert log.text == "the worker was lost"


async def test_only_images_are_scanned(client: httpx.AsyncClient, registry: Registry) -> None:
    chart_config = b'{"name":"app","version":"1.0.0"}'
    await push_blob(client, "library/chart", chart_config)
    await push_blob(client, "library/chart", b"chart-tgz")
    body = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.cncf.helm.config.v1+json", chart_config),
            "layers": [
                descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"chart-tgz")
            ],
        }
    )
    assert (await put_manifest(client, "library/chart", "1.0.0", body)).status_code == 201
    r = await client.post("/api/v2.0/projects/library/repositories/chart/artifacts/1.0.0/scan")
    assert r.status_code == 400
    assert "chart artifact" in r.json()["errors"][0]["message"]
