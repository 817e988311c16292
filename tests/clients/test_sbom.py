"""The SBOM a scan attaches, fetched with the oras SDK as any OCI client would: found
through the referrers API, pulled by digest, a CycloneDX document of the image."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import oras.client
import pytest

from tests.clients.conftest import RunningRegistry
from tests.oci.helpers import push_image_over_http
from tests.scanning.test_scans import debian_image, installed
from tests.servers import ADMIN

CYCLONEDX = "application/vnd.cyclonedx+json"


def test_the_sbom_referrer_with_the_oras_sdk(
    registry: RunningRegistry, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _, repository = repo.partition("/")
    artifacts = f"/api/v2.0/projects/{project}/repositories/{repository}/artifacts"
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        digest = push_image_over_http(client, repo, "v1", debian_image())
        r = client.post(f"{artifacts}/v1/scan", json={"scan_type": "sbom"})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:
            r = client.get(f"{artifacts}/v1", params={"with_sbom_overview": "true"})
            overview = r.json()["sbom_overview"]
            if overview and overview["scan_status"] not in ("Pending", "Running"):
                break
            assert time.monotonic() < deadline, overview
            time.sleep(0.1)
        assert overview["scan_status"] == "Success", overview

    monkeypatch.chdir(tmp_path)
    oras_client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    oras_client.login(username=ADMIN[0], password=ADMIN[1])
    referrers = oras_client.do_request(
        f"http://{registry.host}/v2/{repo}/referrers/{digest}", "GET"
    ).json()
    (sbom,) = [m for m in referrers["manifests"] if m["artifactType"] == CYCLONEDX]
    assert sbom["digest"] == overview["sbom_digest"]
    (pulled,) = oras_client.pull(
        target=f"{registry.host}/{repo}@{sbom['digest']}", outdir=str(tmp_path / "out")
    )
    assert Path(pulled).name == "sbom.cdx.json"
    document = json.loads(Path(pulled).read_text())
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.5"
    names = {component["name"] for component in document["components"]}
    assert {"libssl3", "dpkg", "bash"} <= names
    versions = {c["name"]: c.get("version") for c in document["components"]}
    assert versions["libssl3"] == installed("libssl3")[0]
