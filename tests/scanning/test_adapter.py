"""The scanner-adapter API both ways.

- The built-in adapter's side of the spec (shared/specs/harbor-scanner): content types,
  Accept negotiation, 302 with Refresh-After while a scan runs, and the spec's errors.
- The registry's side against a real adapter process: ``dockyard scanner`` on its own
  port, registered through the API with an API key, pulling over HTTP from a
  ``dockyard serve`` process; and an adapter that is down fails the scan cleanly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from dockyard.db import open_database
from dockyard.registry import Registry
from dockyard.scanning.adapter import AdapterSettings, BuiltinScanner, adapter_app
from dockyard.scanning.reports import (
    ERROR,
    HARBOR_REPORT,
    METADATA_V1_1,
    SBOM_REPORT,
    SCAN_RESPONSE,
    VULNERABILITY_REPORT,
)
from dockyard.scanning.scan_jobs import ScanArtifact
from dockyard.scanning.scans import SCAN_ARTIFACT
from dockyard.scanning.vulndb import VulnDB
from tests.oci.helpers import push_image, push_image_over_http
from tests.scanning.test_scans import ARTIFACTS, debian_image, installed, osv_record, scanned, work
from tests.servers import ADMIN, DockyardServer, free_port

DIGEST = "sha256:" + "a" * 64
REQUEST = {
    "registry": {"url": "http://127.0.0.1:9", "authorization": "Bearer x"},
    "artifact": {"repository": "library/app", "digest": DIGEST},
}


@pytest.fixture
async def adapter(tmp_path: Path) -> Any:
    from dockyard.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'scanner.db'}"
    await asyncio.to_thread(upgrade, url)
    db = open_database(url)
    scanner = BuiltinScanner(
        VulnDB(db),
        AdapterSettings(api_key="the-key", refresh_after=1),
        lambda: httpx.AsyncClient(timeout=5),
    )
    transport = httpx.ASGITransport(app=adapter_app(scanner))  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://scanner.test/api/v1",
        headers={"X-ScannerAdapter-API-Key": "the-key"},
    ) as client:
        yield client
    await scanner.close()
    await db.dispose()


async def test_the_builtin_adapter_speaks_the_spec(adapter: httpx.AsyncClient) -> None:
    r = await adapter.get("/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"] == METADATA_V1_1
    metadata = r.json()
    assert metadata["scanner"]["name"] == "dockyard"
    by_type = {c["type"]: c for c in metadata["capabilities"]}
    assert set(by_type["vulnerability"]["produces_mime_types"]) == {
        VULNERABILITY_REPORT,
        HARBOR_REPORT,
    }
    assert by_type["sbom"]["produces_mime_types"] == [SBOM_REPORT]
    assert (
        "application/vnd.cyclonedx+json"
        in by_type["sbom"]["additional_attributes"]["sbom_media_types"]
    )
    assert "harbor.scanner-adapter/vulnerability-database-updated-at" in metadata["properties"]

    r = await adapter.post("/scan", json=REQUEST)
    assert r.status_code == 202
    assert r.headers["content-type"] == SCAN_RESPONSE
    scan_id = r.json()["id"]

    # The registry at port 9 is not there: the scan fails, and the report says why.
    deadline = time.monotonic() + 10
    while True:
        r = await adapter.get(f"/scan/{scan_id}/report", headers={"Accept": VULNERABILITY_REPORT})
        if r.status_code != 302:
            break
        assert r.headers["Refresh-After"] == "1"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert r.status_code == 500
    assert r.headers["content-type"] == ERROR
    assert "could not be reached" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "JSON object"),
        (
            b'{"artifact": {"repository": "a", "digest": "' + DIGEST.encode() + b'"}}',
            422,
            "registry",
        ),
        (
            b'{"registry": {"url": "ftp://x"}, "artifact": {"repository": "a", "digest": "'
            + DIGEST.encode()
            + b'"}}',
            422,
            "registry.url",
        ),
        (
            b'{"registry": {"url": "http://x"}, '
            b'"artifact": {"repository": "a", "digest": "md5:1"}}',
            422,
            "artifact.digest",
        ),
        (
            b'{"registry": {"url": "http://x"}, "artifact": {"repository": "a", "digest": "'
            + DIGEST.encode()
            + b'", "mime_type": "application/vnd.oci.image.index.v1+json"}}',
            501,
            "cannot scan",
        ),
    ],
)
async def test_bad_scan_requests(
    adapter: httpx.AsyncClient, body: bytes, status: int, message: str
) -> None:
    r = await adapter.post("/scan", content=body)
    assert r.status_code == status
    assert r.headers["content-type"] == ERROR
    assert message in r.json()["error"]["message"]


async def test_report_requests_and_the_api_key(adapter: httpx.AsyncClient) -> None:
    r = await adapter.get("/scan/unknown/report")
    assert r.status_code == 404
    scan_id = (await adapter.post("/scan", json=REQUEST)).json()["id"]
    r = await adapter.get(f"/scan/{scan_id}/report", headers={"Accept": "text/html"})
    assert r.status_code == 501
    r = await adapter.get(f"/scan/{scan_id}/report", headers={"Accept": SBOM_REPORT})
    assert r.status_code == 400
    assert "sbom_media_type" in r.json()["error"]["message"]
    r = await adapter.get("/metadata", headers={"X-ScannerAdapter-API-Key": "wrong"})
    assert r.status_code == 401
    r = await adapter.get(
        "/metadata",
        headers={"X-ScannerAdapter-API-Key": "", "Authorization": "Bearer the-key"},
    )
    assert r.status_code == 200


class ScannerProcess:
    """``dockyard scanner`` on a free port, reading the advisories of ``database_url``."""

    def __init__(self, log: Path, database_url: str, key: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        environment.update(
            {"DOCKYARD_DATABASE__URL": database_url, "DOCKYARD_SCANNING__API_KEY": key}
        )
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dockyard",
                    "scanner",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(log.parent / "scanner-data"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                r = httpx.get(
                    f"{self.url}/api/v1/metadata", headers={"X-ScannerAdapter-API-Key": key}
                )
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[DockyardServer]:
    server = DockyardServer(tmp_path / "data").start()
    yield server
    server.stop()


def wait_for_scan(client: httpx.Client, reference: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        r = client.get(
            f"/api/v2.0/projects/lib/repositories/app/artifacts/{reference}",
            params={"with_scan_overview": "true"},
        )
        overview = r.json()["scan_overview"][VULNERABILITY_REPORT]
        if overview["scan_status"] not in ("Pending", "Running"):
            return dict(overview)
        assert time.monotonic() < deadline, overview
        time.sleep(0.1)


def test_an_outside_adapter_process(served: DockyardServer, tmp_path: Path) -> None:

    database_url = f"sqlite+aiosqlite:///{served.data_dir.resolve() / 'dockyard.db'}"
    _, source, source_version = installed("libssl3")
    records = tmp_path / "records"
    records.mkdir()
    record = osv_record(
        "DSA-9999-1", "Debian:12", source, source_version + "+1", aliases=("CVE-2099-0009",)
    )
    (records / "DSA-9999-1.json").write_text(json.dumps(record))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_DATABASE__URL"] = database_url
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "vulndb",
            "import",
            str(records),
            "--data-dir",
            str(tmp_path / "cli-data"),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    scanner = ScannerProcess(tmp_path / "scanner.log", database_url, "k3y")
    try:
        with httpx.Client(base_url=served.url, auth=ADMIN, timeout=30) as client:
            r = client.post(
                "/api/v2.0/scanners",
                json={
                    "name": "outside",
                    "url": scanner.url,
                    "auth": "X-ScannerAdapter-API-Key",
                    "access_credential": "k3y",
                },
            )
            assert r.status_code == 201, r.text
            uuid = r.headers["Location"].rsplit("/", 1)[1]
            registered = client.get(f"/api/v2.0/scanners/{uuid}").json()
            assert "access_credential" not in registered
            metadata = client.get(f"/api/v2.0/scanners/{uuid}/metadata").json()
            assert metadata["scanner"]["name"] == "dockyard"
            assert (
                client.put("/api/v2.0/projects/lib/scanner", json={"uuid": uuid}).status_code == 200
            )
            assert client.get("/api/v2.0/projects/lib/scanner").json()["name"] == "outside"

            push_image_over_http(client, "lib/app", "v1", debian_image())
            assert (
                client.post("/api/v2.0/projects/lib/repositories/app/artifacts/v1/scan").status_code
                == 202
            )
            overview = wait_for_scan(client, "v1")
            assert overview["scan_status"] == "Success", client.get(
                f"/api/v2.0/projects/lib/repositories/app/artifacts/v1/scan/{overview['report_id']}/log"
            ).text
            report = client.get(
                "/api/v2.0/projects/lib/repositories/app/artifacts/v1/additions/vulnerabilities"
            ).json()[VULNERABILITY_REPORT]
            assert "CVE-2099-0009" in {v["id"] for v in report["vulnerabilities"]}

            # The adapter goes away: the next scan fails, with the reason in its log.
            scanner.stop()
            assert (
                client.post("/api/v2.0/projects/lib/repositories/app/artifacts/v1/scan").status_code
                == 202
            )
            overview = wait_for_scan(client, "v1")
            assert overview["scan_status"] == "Error"
            log = client.get(
                f"/api/v2.0/projects/lib/repositories/app/artifacts/v1/scan/{overview['report_id']}/log"
            ).text
            assert "could not be reached" in log
            failed = client.get("/api/v2.0/audit-logs", params={"operation": "scan_failed"}).json()
            assert len(failed) == 1
    finally:
        if scanner.process.poll() is None:
            scanner.stop()


class FakeAdapter:
    """An adapter of another vendor, written to the spec and nothing more: it produces only
    the Harbor 1.0 report type, and either answers with a canned report after one poll or
    never finishes. It runs in a thread on a real port."""

    REPORT: ClassVar[dict[str, Any]] = {
        "generated_at": "2026-11-29T10:00:00Z",
        "scanner": {"name": "Other", "vendor": "Elsewhere", "version": "9.9"},
        "severity": "High",
        "vulnerabilities": [
            {
                "id": "CVE-2026-1",
                "package": "a",
                "version": "1",
                "fix_version": "2",
                "severity": "High",
            },
            {"id": "CVE-2026-2", "package": "b", "version": "1", "severity": "Low"},
            {"id": "CVE-2026-2", "package": "b", "version": "1", "severity": "Low"},
        ],
    }

    def __init__(self, finishes: bool) -> None:
        self.finishes = finishes
        self.requests: list[dict[str, Any]] = []
        self.polls = 0
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(
                self,
                status: int,
                body: dict[str, Any] | None,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/v1/metadata":
                    self._send(
                        200,
                        {
                            "scanner": {"name": "Other", "vendor": "Elsewhere", "version": "9.9"},
                            "capabilities": [
                                {
                                    "consumes_mime_types": [
                                        "application/vnd.oci.image.manifest.v1+json"
                                    ],
                                    "produces_mime_types": [HARBOR_REPORT],
                                }
                            ],
                        },
                        METADATA_V1_1,
                    )
                elif self.path == "/api/v1/scan/s-1/report":
                    assert self.headers["Accept"] == HARBOR_REPORT
                    adapter.polls += 1
                    if adapter.finishes and adapter.polls > 1:
                        self._send(200, adapter.REPORT, HARBOR_REPORT)
                    else:
                        self._send(302, None, "text/plain", {"Refresh-After": "1"})
                else:
                    self._send(404, {"error": {"message": "no"}}, ERROR)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                adapter.requests.append(json.loads(self.rfile.read(length)))
                self._send(202, {"id": "s-1"}, SCAN_RESPONSE)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def register(client: httpx.AsyncClient, url: str) -> None:
    r = await client.post("/api/v2.0/scanners", json={"name": "other", "url": url})
    assert r.status_code == 201, r.text
    uuid = r.headers["Location"].rsplit("/", 1)[1]
    r = await client.put("/api/v2.0/projects/library/scanner", json={"uuid": uuid})
    assert r.status_code == 200, r.text


async def test_another_vendors_adapter_and_its_report(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    adapter = FakeAdapter(finishes=True)
    try:
        await register(client, adapter.url)
        digest, _ = await push_image(client, "library/app", "v1")
        r = await client.post(f"{ARTIFACTS}/v1/scan", json={"scan_type": "sbom"})
        assert r.status_code == 202
        await work(registry)
    finally:
        adapter.close()
    (request,) = adapter.requests
    assert request["artifact"] == {
        "repository": "library/app",
        "digest": digest,
        "mime_type": "application/vnd.oci.image.manifest.v1+json",
    }
    assert request["enabled_capabilities"] == [
        {"type": "vulnerability", "produces_mime_types": [HARBOR_REPORT]}
    ]
    # A pull-only token for that one repository, which the pull policy lets through.
    scheme, _, token = request["registry"]["authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = await registry.tokens.check(token)
    assert claims.scanner
    assert claims.access == {("repository", "library/app", "pull")}
    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Success"
    assert overview["scanner"] == {"name": "Other", "vendor": "Elsewhere", "version": "9.9"}
    # The same finding twice counts once.
    assert overview["summary"] == {"total": 2, "fixable": 1, "summary": {"High": 1, "Low": 1}}
    assert overview["severity"] == "High"
    # It makes no SBOM: that part of the scan says so, rather than waiting for ever.
    r = await client.get(f"{ARTIFACTS}/v1", params={"with_sbom_overview": "true"})
    sbom = r.json()["sbom_overview"]
    assert sbom["scan_status"] == "Error"
    log = await client.get(f"{ARTIFACTS}/v1/scan/{sbom['report_id']}/log")
    assert log.text == "Other makes no SBOM dockyard reads"


async def test_an_adapter_that_never_finishes_times_out(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    handler = registry.job_handlers.get(SCAN_ARTIFACT)
    assert isinstance(handler, ScanArtifact)
    handler.settings = dataclasses.replace(handler.settings, timeout_seconds=2.5)
    adapter = FakeAdapter(finishes=False)
    try:
        await register(client, adapter.url)
        await push_image(client, "library/app", "v1")
        assert (await client.post(f"{ARTIFACTS}/v1/scan")).status_code == 202
        await work(registry)
    finally:
        adapter.close()
    assert adapter.polls >= 2
    overview = await scanned(client, "v1")
    assert overview["scan_status"] == "Error"
    log = (await client.get(f"{ARTIFACTS}/v1/scan/{overview['report_id']}/log")).text
    assert log == "the scanner had no report before the scan timeout"
