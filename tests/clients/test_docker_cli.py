"""The engine-less docker CLI against dockyard: manifest lists made and pushed by docker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clients.conftest import RunningRegistry, Tools
from tests.clients.images import umoci_image
from tests.servers import ADMIN


def test_docker_manifest_create_and_push(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    layout = tmp_path / "images"
    for arch in ("amd64", "arm64"):
        umoci_image(tools, layout, arch, {"arch": f"{arch}\n"}, architecture=arch)
        tools.run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"oci:{layout}:{arch}",
            f"docker://{registry.host}/{repo}:{arch}",
        )
    # A config dir of its own: nothing leaks from or into the user's ~/.docker.
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    user, password = ADMIN
    tools.run(
        "docker", "login", "-u", user, "--password-stdin", registry.host, env=env, input=password
    )
    listing = f"{registry.host}/{repo}:list"
    tools.run(
        "docker",
        "manifest",
        "create",
        "--insecure",
        listing,
        f"{registry.host}/{repo}:amd64",
        f"{registry.host}/{repo}:arm64",
        env=env,
    )
    tools.run(
        "docker",
        "manifest",
        "annotate",
        "--variant",
        "v8",
        listing,
        f"{registry.host}/{repo}:arm64",
        env=env,
    )
    pushed = tools.run("docker", "manifest", "push", "--purge", "--insecure", listing, env=env)
    digest = pushed.stdout.strip().splitlines()[-1]
    raw = json.loads(
        tools.run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{listing}").stdout
    )
    platforms = sorted(
        (m["platform"]["architecture"], m["platform"].get("variant")) for m in raw["manifests"]
    )
    assert platforms == [("amd64", None), ("arm64", "v8")]
    assert digest.startswith("sha256:")
    inspected = json.loads(
        tools.run(
            "skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/{repo}@{digest}"
        ).stdout
    )
    assert inspected["Architecture"] == "amd64"
    # The local list was purged on push: docker reads this one back from the registry.
    seen = json.loads(
        tools.run("docker", "manifest", "inspect", "--insecure", listing, env=env).stdout
    )
    assert len(seen["manifests"]) == 2
