"""The built-in scanner end to end, as a user runs it: ``python -m bench.scan``.

A ``dockyard serve`` process on the embedded default (SQLite and files) gets an image
of about 1 GB in 4 gzip layers with ~500 dpkg packages (bench/scan_inventory.py writes
them), pushed over HTTP, and one OSV advisory for each package's source imported with
``dockyard vulndb import``. Then a scan is asked for through the API and timed until its
report is stored: the pull of the layers through the registry's own Distribution API,
the inventory, the matching and the report. The issue's target: under 30 s.

    python -m bench.scan [--size-mb 1024] [--layers 4] [--content random|machine] [--sbom]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.scan_inventory import MB, write_layers
from bench.targets import free_port

PASSWORD = "bench-Secret-1"
REPOSITORY = "library/big"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--content", choices=["random", "machine"], default="random")
    parser.add_argument("--sbom", action="store_true", help="also make and attach the SBOM")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-scan-bench-") as directory:
        root = Path(directory)
        started = time.perf_counter()
        layers, tar_bytes = write_layers(
            root, arguments.size_mb * MB, arguments.layers, "gzip", arguments.content,
            random.Random(arguments.seed),
        )  # fmt: skip
        blob_bytes = sum(path.stat().st_size for path in layers)
        say(
            f"wrote {len(layers)} layers: {blob_bytes / MB:.0f} MB of gzip, "
            f"{tar_bytes / MB:.0f} MB of tar, in {time.perf_counter() - started:.1f} s"
        )
        data = root / "data"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")},
            "DOCKYARD_ADMIN_PASSWORD": PASSWORD,
            "DOCKYARD_LOG_LEVEL": "warning",
        }
        advisories = write_advisories(root / "osv", layers[0])
        command = [sys.executable, "-m", "dockyard"]
        imported = subprocess.run(
            [*command, "vulndb", "import", str(advisories), "--data-dir", str(data)],
            env=environment, capture_output=True, text=True, check=True,
        )  # fmt: skip
        say(imported.stdout.strip())
        port = free_port()
        server = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--data-dir", str(data)],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", auth=("admin", PASSWORD), timeout=600
            ) as client:
                wait_until_up(client)
                started = time.perf_counter()
                push(client, layers)
                say(f"pushed in {time.perf_counter() - started:.1f} s")
                result = scan(client, arguments.sbom)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"scan of {blob_bytes / MB:.0f} MB ({tar_bytes / MB:.0f} MB of tar, "
        f"{arguments.content} content), {result['packages']} packages: "
        f"{result['seconds']:.1f} s from the request to the stored report; "
        f"{result['total']} vulnerabilities found"
    )
    return 0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_advisories(folder: Path, base_layer: Path) -> Path:
    """One OSV record per source package of the image's dpkg status, fixed just after the
    installed version: every package is matched, and every one is affected."""
    import gzip
    import tarfile

    folder.mkdir()
    with gzip.open(base_layer) as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if member.name.endswith("var/lib/dpkg/status"):
                reader = archive.extractfile(member)
                assert reader is not None
                status = reader.read().decode()
                break
    sources: dict[str, str] = {}
    for paragraph in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in paragraph.splitlines()
            if ": " in line and line[0] != " "
        )
        if "Package" not in fields:
            continue
        source, _, version = fields.get("Source", fields["Package"]).partition(" ")
        sources[source] = version.strip("()") or fields["Version"]
    for number, (source, version) in enumerate(sorted(sources.items())):
        record = {
            "id": f"BENCH-{number}",
            "modified": "2026-11-29T00:00:00Z",
            "aliases": [f"CVE-2099-{number + 10000}"],
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
            ],
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": source},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": version + "+1"}],
                        }
                    ],
                }
            ],
        }
        (folder / f"BENCH-{number}.json").write_text(json.dumps(record))
    return folder


def wait_until_up(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/v2/").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("dockyard did not start")


def push(client: httpx.Client, layers: list[Path]) -> None:
    descriptors = []
    for path in layers:
        digest = "sha256:" + file_digest(path)
        with path.open("rb") as file:
            r = client.post(
                f"/v2/{REPOSITORY}/blobs/uploads/", params={"digest": digest}, content=file
            )
        r.raise_for_status()
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": path.stat().st_size,
            }
        )
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.post(
        f"/v2/{REPOSITORY}/blobs/uploads/", params={"digest": config_digest}, content=config
    ).raise_for_status()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": descriptors,
    }
    client.put(
        f"/v2/{REPOSITORY}/manifests/v1",
        content=json.dumps(manifest),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def scan(client: httpx.Client, sbom: bool) -> dict[str, Any]:
    artifact = "/api/v2.0/projects/library/repositories/big/artifacts/v1"
    started = time.perf_counter()
    body = {"scan_type": "sbom"} if sbom else None
    client.post(f"{artifact}/scan", json=body).raise_for_status()
    while True:
        overview = client.get(artifact, params={"with_scan_overview": "true"}).json()
        summary = next(iter((overview.get("scan_overview") or {}).values()), None)
        if summary and summary["scan_status"] not in ("Pending", "Running"):
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if summary["scan_status"] != "Success":
        log = client.get(f"{artifact}/scan/{summary['report_id']}/log").text
        raise SystemExit(f"the scan ended {summary['scan_status']}: {log}")
    report = client.get(f"{artifact}/additions/vulnerabilities").json()
    vulnerabilities = next(iter(report.values()))["vulnerabilities"]
    packages = {v["vendor_attributes"]["purl"] for v in vulnerabilities}
    return {
        "seconds": seconds,
        "total": summary["summary"]["total"],
        "packages": len(packages),
    }


if __name__ == "__main__":
    raise SystemExit(main())
