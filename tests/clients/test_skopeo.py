"""skopeo against dockyard: every transport a user copies between, inspect, tags, delete."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import httpx

from tests.clients.conftest import RunningRegistry, Tools
from tests.clients.images import OCI_INDEX, add_index, umoci_image, unpacked_files
from tests.servers import ADMIN

PUSH = ("--dest-tls-verify=false",)
PULL = ("--src-tls-verify=false",)
FILES = {"etc/motd": "hello from dockyard\n", "app/data.txt": "x" * 10_000}

# Plain HTTP requests of the tests, as the admin.
http = httpx.Client(auth=ADMIN)


def _inspect(tools: Tools, reference: str, *extra: str) -> dict[str, object]:
    out = tools.run("skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{reference}")
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_umoci_image_round_trips_through_an_oci_layout(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    umoci_image(tools, tmp_path / "src", "v1", FILES)
    target = f"{registry.host}/{repo}:v1"
    tools.run("skopeo", "copy", *PUSH, f"oci:{tmp_path / 'src'}:v1", f"docker://{target}")
    tools.run("skopeo", "copy", *PULL, f"docker://{target}", f"oci:{tmp_path / 'back'}:v1")
    rootfs = unpacked_files(tools, tmp_path / "back", "v1", tmp_path / "unpacked")
    for relative, text in FILES.items():
        assert (rootfs / relative).read_text() == text
    pushed = json.loads((tmp_path / "src" / "index.json").read_text())["manifests"][0]
    pulled = json.loads((tmp_path / "back" / "index.json").read_text())["manifests"][0]
    assert pulled["digest"] == pushed["digest"]
    assert _inspect(tools, target)["Digest"] == pushed["digest"]


def test_docker_archive_both_ways(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    umoci_image(tools, tmp_path / "src", "v1", FILES)
    archive = tmp_path / "image.tar"
    tools.run("skopeo", "copy", f"oci:{tmp_path / 'src'}:v1", f"docker-archive:{archive}:app:v1")
    target = f"{registry.host}/{repo}:v1"
    tools.run("skopeo", "copy", *PUSH, f"docker-archive:{archive}", f"docker://{target}")
    raw = json.loads(
        tools.run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}").stdout
    )
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    back = tmp_path / "back.tar"
    tools.run("skopeo", "copy", *PULL, f"docker://{target}", f"docker-archive:{back}:app:v1")
    pushed, pulled = _archive_layers(archive, tmp_path / "a"), _archive_layers(back, tmp_path / "b")
    assert pulled == pushed
    (layer,) = pulled.values()
    assert FILES["etc/motd"].encode() in layer


def _archive_layers(archive: Path, into: Path) -> dict[str, bytes]:
    """The layers of a docker-archive by file name, and the tags it names."""
    with tarfile.open(archive) as files:
        files.extractall(into, filter="data")
    (image,) = json.loads((into / "manifest.json").read_text())
    assert image["RepoTags"] == ["docker.io/library/app:v1"]
    return {name: (into / name).read_bytes() for name in image["Layers"]}


def test_registry_to_registry_inspect_list_tags_delete(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    umoci_image(tools, tmp_path / "src", "v1", FILES, architecture="arm64")
    source = f"{registry.host}/{repo}/source"
    tools.run("skopeo", "copy", *PUSH, f"oci:{tmp_path / 'src'}:v1", f"docker://{source}:v1")
    for tag in ("v2", "latest"):
        tools.run(
            "skopeo",
            "copy",
            *PUSH,
            *PULL,
            f"docker://{source}:v1",
            f"docker://{registry.host}/{repo}/copy:{tag}",
        )
    copied = _inspect(tools, f"{registry.host}/{repo}/copy:v2")
    assert copied["Digest"] == _inspect(tools, f"{source}:v1")["Digest"]
    assert copied["Architecture"] == "arm64"
    tags = json.loads(
        tools.run(
            "skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}/copy"
        ).stdout
    )
    assert tags["Tags"] == ["latest", "v2"]
    tools.run("skopeo", "delete", "--tls-verify=false", f"docker://{registry.host}/{repo}/copy:v2")
    gone = tools.run(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        f"docker://{registry.host}/{repo}/copy:latest",
        check=False,
    )
    # skopeo deletes by digest: the artifact and every tag on it are gone.
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr
    assert _inspect(tools, f"{source}:v1")["Digest"] == copied["Digest"]


def test_multi_arch_index_copy_all_and_override_arch(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    layout = tmp_path / "multi"
    umoci_image(tools, layout, "amd64", {"arch": "amd64\n"}, architecture="amd64")
    umoci_image(tools, layout, "arm64", {"arch": "arm64\n"}, architecture="arm64")
    index_digest = add_index(layout, "multi", {"amd64": "amd64", "arm64": "arm64"})
    target = f"{registry.host}/{repo}:v1"
    tools.run("skopeo", "copy", "--all", *PUSH, f"oci:{layout}:multi", f"docker://{target}")
    raw = json.loads(
        tools.run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}").stdout
    )
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == ["amd64", "arm64"]
    # Like every client, say which manifest types are welcome: a registry need not guess.
    head = http.head(f"{registry.url}/v2/{repo}/manifests/v1", headers={"Accept": OCI_INDEX})
    assert head.headers["Docker-Content-Digest"] == index_digest

    all_layout = tmp_path / "all"
    tools.run("skopeo", "copy", "--all", *PULL, f"docker://{target}", f"oci:{all_layout}:v1")
    (pulled,) = json.loads((all_layout / "index.json").read_text())["manifests"]
    assert pulled["digest"] == index_digest
    pulled_index = json.loads(_blob(all_layout, index_digest))
    children = {m["platform"]["architecture"]: m["digest"] for m in pulled_index["manifests"]}
    assert children == {m["platform"]["architecture"]: m["digest"] for m in raw["manifests"]}
    for child in children.values():
        assert json.loads(_blob(all_layout, child))["layers"]

    tools.run(
        "skopeo",
        "--override-arch",
        "arm64",
        "copy",
        *PULL,
        f"docker://{target}",
        f"oci:{tmp_path / 'arm'}:v1",
    )
    (arm,) = json.loads((tmp_path / "arm" / "index.json").read_text())["manifests"]
    assert arm["digest"] == children["arm64"]
    rootfs = unpacked_files(tools, tmp_path / "arm", "v1", tmp_path / "arm-unpacked")
    assert (rootfs / "arch").read_text() == "arm64\n"


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":")
    return (layout / "blobs" / algorithm / hex_digest).read_bytes()
