"""podman and buildah against dockyard: push, pull, and multi-image manifest lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.conftest import RunningRegistry, Tools


def _scratch_image(tools: Tools, name: str, text: str, tmp_path: Path, arch: str = "amd64") -> None:
    """A one-file image built with buildah from scratch, stored as ``name``."""
    source = tmp_path / f"{name.replace('/', '_').replace(':', '_')}.txt"
    source.write_text(text)
    container = tools.buildah("from", "--arch", arch, "scratch").stdout.strip()
    tools.buildah("copy", container, str(source), "/hello.txt")
    tools.buildah("config", "--arch", arch, "--os", "linux", container)
    tools.buildah("commit", "--quiet", container, name)
    tools.buildah("rm", container)


def _file_in_image(tools: Tools, image: str, path: str) -> str:
    container = tools.buildah("from", "--pull-never", image).stdout.strip()
    try:
        rootfs = Path(tools.buildah("mount", container).stdout.strip())
        return (rootfs / path.lstrip("/")).read_text()
    finally:
        tools.buildah("rm", container)


def test_buildah_push_podman_pull(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    local = f"localhost/{repo}:v1"
    _scratch_image(tools, local, "pushed by buildah\n", tmp_path)
    remote = f"{registry.host}/{repo}:v1"
    tools.buildah("push", "--tls-verify=false", local, f"docker://{remote}")
    tools.buildah("rmi", "--force", local)
    tools.podman("pull", "--tls-verify=false", remote)
    assert _file_in_image(tools, remote, "/hello.txt") == "pushed by buildah\n"


def test_podman_push_buildah_pull(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    local = f"localhost/{repo}:v1"
    _scratch_image(tools, local, "pushed by podman\n", tmp_path)
    remote = f"{registry.host}/{repo}:v1"
    tools.podman("push", "--tls-verify=false", local, remote)
    tools.podman("rmi", "--force", local)
    tools.buildah("pull", "--tls-verify=false", remote)
    assert _file_in_image(tools, remote, "/hello.txt") == "pushed by podman\n"


def _raw_manifest(tools: Tools, reference: str) -> dict[str, object]:
    out = tools.run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}")
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _platforms(index: dict[str, object]) -> list[str]:
    manifests = index["manifests"]
    assert isinstance(manifests, list)
    return sorted(m["platform"]["architecture"] for m in manifests)


@pytest.mark.parametrize("tool", ["podman", "buildah"])
def test_manifest_create_add_push_all(
    tool: str, tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    run = tools.podman if tool == "podman" else tools.buildah
    for arch in ("amd64", "arm64"):
        _scratch_image(tools, f"localhost/{repo}:{arch}", f"{arch}\n", tmp_path, arch)
    run("manifest", "create", f"localhost/{repo}:list")
    for arch in ("amd64", "arm64"):
        run(
            "manifest",
            "add",
            f"localhost/{repo}:list",
            f"containers-storage:localhost/{repo}:{arch}",
        )
    remote = f"{registry.host}/{repo}:list"
    run(
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        f"localhost/{repo}:list",
        f"docker://{remote}",
    )
    index = _raw_manifest(tools, remote)
    assert _platforms(index) == ["amd64", "arm64"]
    manifests = index["manifests"]
    assert isinstance(manifests, list)
    for child in manifests:
        # Every child of the list is pullable by its digest.
        assert _raw_manifest(tools, f"{registry.host}/{repo}@{child['digest']}")["layers"]
    # A client on another platform gets its own image out of the list.
    tools.podman("pull", "--tls-verify=false", "--arch", "arm64", remote)
    assert _file_in_image(tools, remote, "/hello.txt") == "arm64\n"
