"""The oras Python SDK against dockyard: artifact types, chunked uploads, Helm charts, referrers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx
import oras.client
import oras.oci
import pytest

from tests.clients.conftest import RunningRegistry
from tests.servers import ADMIN

EMPTY = "application/vnd.oci.empty.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

# Plain HTTP requests of the tests, as the admin.
http = httpx.Client(auth=ADMIN)


@pytest.fixture
def oras_client(
    registry: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> oras.client.OrasClient:
    # oras insists that pushed files sit below the working directory.
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    client.login(username=ADMIN[0], password=ADMIN[1])
    return client


def _manifest(registry: RunningRegistry, repo: str, reference: str) -> httpx.Response:
    answer = http.get(
        f"{registry.url}/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_files_with_custom_media_types_round_trip(
    oras_client: oras.client.OrasClient, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    Path("model.bin").write_bytes(os.urandom(300_000))
    Path("notes.md").write_text("# notes\n")
    target = f"{registry.host}/{repo}:v1"
    oras_client.push(
        target=target,
        files=["model.bin:application/vnd.example.model.v1", "notes.md:text/markdown"],
    )
    pulled = oras_client.pull(target=target, outdir=str(tmp_path / "out"))
    assert sorted(Path(p).name for p in pulled) == ["model.bin", "notes.md"]
    for path in pulled:
        assert Path(path).read_bytes() == Path(Path(path).name).read_bytes()
    manifest = _manifest(registry, repo, "v1").json()
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.example.model.v1",
        "text/markdown",
    ]


def _record_methods(
    oras_client: oras.client.OrasClient, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The HTTP methods the client sends from now on, in order."""
    methods: list[str] = []
    send = oras_client.do_request

    def recording(url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        methods.append(method)
        return send(url, method, *args, **kwargs)

    monkeypatch.setattr(oras_client, "do_request", recording)
    return methods


def test_chunked_upload(
    oras_client: oras.client.OrasClient,
    registry: RunningRegistry,
    repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    Path("big.bin").write_bytes(data)
    target = f"{registry.host}/{repo}:v1"
    methods = _record_methods(oras_client, monkeypatch)
    oras_client.push(
        target=target,
        files=["big.bin:application/octet-stream"],
        do_chunked=True,
        chunk_size=1024 * 1024,
    )
    # Five whole MiB and a tail: six PATCHes, so the test exercises a real chunked session.
    assert methods.count("PATCH") == 6
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob = http.get(f"{registry.url}/v2/{repo}/blobs/{digest}")
    assert blob.status_code == 200
    assert blob.content == data
    (pulled,) = oras_client.pull(target=target, outdir=str(tmp_path / "out"))
    assert Path(pulled).read_bytes() == data


def _upload(
    oras_client: oras.client.OrasClient, target: str, path: Path, media_type: str
) -> dict[str, Any]:
    container = oras_client.get_container(target)
    layer = oras.oci.NewLayer(str(path), media_type=media_type)
    answer = oras_client.upload_blob(str(path), container, layer)
    assert answer.status_code in (200, 201), answer.text
    return {k: layer[k] for k in ("mediaType", "digest", "size")}


def _empty_config_artifact(layer: dict[str, Any], artifact_type: str) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": EMPTY,
            "digest": oras.defaults.blank_config_hash,
            "size": 2,
            "data": "e30=",
        },
        "layers": [layer],
    }


def test_artifact_type_with_the_empty_config(
    oras_client: oras.client.OrasClient, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    Path("policy.rego").write_text("package main\n")
    Path("empty.json").write_text("{}")
    target = f"{registry.host}/{repo}:policy"
    # As oras push does: the empty config is a blob like any other, uploaded first.
    config = _upload(oras_client, target, Path("empty.json"), EMPTY)
    assert config["digest"] == oras.defaults.blank_config_hash
    layer = _upload(oras_client, target, Path("policy.rego"), "application/vnd.example.rego")
    layer["annotations"] = {"org.opencontainers.image.title": "policy.rego"}
    manifest = _empty_config_artifact(layer, "application/vnd.example.policy.v1")
    answer = oras_client.upload_manifest(manifest, oras_client.get_container(target))
    assert answer.status_code == 201, answer.text
    stored = _manifest(registry, repo, "policy").json()
    assert stored["artifactType"] == "application/vnd.example.policy.v1"
    assert stored["config"]["mediaType"] == EMPTY
    (pulled,) = oras_client.pull(target=target, outdir=str(tmp_path / "out"))
    assert Path(pulled).read_bytes() == b"package main\n"
    config_blob = http.get(f"{registry.url}/v2/{repo}/blobs/{oras.defaults.blank_config_hash}")
    assert config_blob.content == b"{}"


def test_empty_config_that_was_never_uploaded(
    oras_client: oras.client.OrasClient, registry: RunningRegistry, repo: str
) -> None:
    """dockyard knows the empty config ``{}``, so a client may skip uploading it (the
    descriptor carries it as ``data``). The spec lets a registry reject such a manifest
    (MANIFEST_BLOB_UNKNOWN), and Distribution does: this one holds for dockyard only."""
    Path("policy.rego").write_text("package main\n")
    target = f"{registry.host}/{repo}:policy"
    layer = _upload(oras_client, target, Path("policy.rego"), "application/vnd.example.rego")
    manifest = _empty_config_artifact(layer, "application/vnd.example.policy.v1")
    answer = oras_client.upload_manifest(manifest, oras_client.get_container(target))
    assert answer.status_code == 201, answer.text
    config = http.get(f"{registry.url}/v2/{repo}/blobs/{oras.defaults.blank_config_hash}")
    assert config.content == b"{}"


def _chart(name: str, version: str) -> bytes:
    """A .tgz of a minimal chart directory, as `helm package` makes."""
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n"
        f"description: A test chart\ntype: application\n",
        f"{name}/values.yaml": "replicaCount: 1\n",
        f"{name}/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file_name, text in files.items():
            info = tarfile.TarInfo(file_name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def test_helm_chart_as_helm_push_writes_it(
    oras_client: oras.client.OrasClient, registry: RunningRegistry, repo: str
) -> None:
    chart = _chart("demo", "0.1.0")
    Path("demo-0.1.0.tgz").write_bytes(chart)
    Path("config.json").write_text(
        json.dumps(
            {
                "name": "demo",
                "version": "0.1.0",
                "description": "A test chart",
                "apiVersion": "v2",
                "type": "application",
            }
        )
    )
    target = f"{registry.host}/{repo}/demo:0.1.0"
    container = oras_client.get_container(target)
    layer = _upload(oras_client, target, Path("demo-0.1.0.tgz"), HELM_CHART)
    config = _upload(oras_client, target, Path("config.json"), HELM_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "config": config,
        "layers": [layer],
        "annotations": {
            "org.opencontainers.image.created": "2026-11-29T00:00:00Z",
            "org.opencontainers.image.description": "A test chart",
            "org.opencontainers.image.title": "demo",
            "org.opencontainers.image.version": "0.1.0",
        },
    }
    assert oras_client.upload_manifest(manifest, container).status_code == 201
    # helm pulls by tag with the OCI manifest type and then the chart layer.
    assert oras_client.get_manifest(target) == manifest
    assert oras_client.get_blob(container, layer["digest"]).content == chart
    # The same over plain HTTP.
    stored = _manifest(registry, f"{repo}/demo", "0.1.0")
    assert stored.headers["Content-Type"] == OCI_MANIFEST
    assert stored.json()["config"]["mediaType"] == HELM_CONFIG
    assert stored.json()["annotations"] == manifest["annotations"]
    helm_config = http.get(f"{registry.url}/v2/{repo}/demo/blobs/{config['digest']}").json()
    assert helm_config["name"] == "demo"
    assert helm_config["version"] == "0.1.0"
    content = http.get(f"{registry.url}/v2/{repo}/demo/blobs/{layer['digest']}").content
    assert content == chart
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        chart_yaml = archive.extractfile("demo/Chart.yaml")
        assert chart_yaml is not None
        assert b"name: demo" in chart_yaml.read()
    tags = http.get(f"{registry.url}/v2/{repo}/demo/tags/list").json()["tags"]
    assert tags == ["0.1.0"]


def test_sbom_with_a_subject_is_listed_as_referrer(
    oras_client: oras.client.OrasClient, registry: RunningRegistry, repo: str
) -> None:
    Path("app.bin").write_bytes(b"the application")
    target = f"{registry.host}/{repo}:v1"
    oras_client.push(target=target, files=["app.bin:application/octet-stream"])
    subject_answer = _manifest(registry, repo, "v1")
    subject = oras.oci.Subject(
        mediaType=OCI_MANIFEST,
        digest=subject_answer.headers["Docker-Content-Digest"],
        size=len(subject_answer.content),
    )
    Path("sbom.spdx.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    sbom_target = f"{registry.host}/{repo}:sbom"
    sbom_layer = _upload(oras_client, sbom_target, Path("sbom.spdx.json"), "application/spdx+json")
    sbom = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": EMPTY, "digest": oras.defaults.blank_config_hash, "size": 2},
        "layers": [sbom_layer],
        "subject": {"mediaType": subject.mediaType, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.example.tool": "test"},
    }
    answer = oras_client.upload_manifest(sbom, oras_client.get_container(sbom_target))
    assert answer.status_code == 201
    assert answer.headers["OCI-Subject"] == subject.digest
    referrers = http.get(f"{registry.url}/v2/{repo}/referrers/{subject.digest}").json()
    (descriptor,) = referrers["manifests"]
    assert descriptor["artifactType"] == "application/spdx+json"
    assert descriptor["annotations"] == {"org.example.tool": "test"}
    assert descriptor["digest"] == answer.headers["Docker-Content-Digest"]
