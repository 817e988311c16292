"""Every client logs in through the Docker token flow: login commands, --creds, anonymous
pulls of public projects, and refusals without credentials."""

from __future__ import annotations

import json
from pathlib import Path

import oras.client
import pytest

from tests.clients.conftest import AGAINST, RunningRegistry, Tools
from tests.clients.images import umoci_image
from tests.servers import ADMIN

pytestmark = pytest.mark.skipif(
    AGAINST != "dockyard", reason="CNCF Distribution here runs without authentication"
)
USER, PASSWORD = ADMIN
CREDS = f"{USER}:{PASSWORD}"


def _layout(tools: Tools, tmp_path: Path) -> Path:
    layout = tmp_path / "layout"
    umoci_image(tools, layout, "v1", {"hello.txt": "hello\n"})
    return layout


def _nobody(tmp_path: Path) -> dict[str, str]:
    """An environment whose auth files hold no credentials at all."""
    empty = tmp_path / "empty-auth.json"
    empty.write_text('{"auths": {}}')
    return {"REGISTRY_AUTH_FILE": str(empty), "DOCKER_CONFIG": str(tmp_path / "no-docker")}


def test_skopeo_creds_and_refusal_without_them(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    layout = _layout(tools, tmp_path)
    target = f"docker://{registry.host}/{repo}:v1"
    refused = tools.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{layout}:v1",
        target,
        env=_nobody(tmp_path),
        check=False,
    )
    assert refused.returncode != 0
    assert "authentication required" in refused.stderr or "unauthorized" in refused.stderr.lower()
    tools.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        f"oci:{layout}:v1",
        target,
        env=_nobody(tmp_path),
    )
    inspected = tools.run(
        "skopeo", "inspect", "--tls-verify=false", "--creds", CREDS, target, env=_nobody(tmp_path)
    )
    assert json.loads(inspected.stdout)["Architecture"] == "amd64"
    wrong = tools.run(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{USER}:wrong-password",
        target,
        env=_nobody(tmp_path),
        check=False,
    )
    assert wrong.returncode != 0


def test_anonymous_pull_of_a_public_project(
    tools: Tools, registry: RunningRegistry, tmp_path: Path
) -> None:
    layout = _layout(tools, tmp_path)
    target = f"docker://{registry.host}/library/anonymous-pull:v1"
    tools.run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", target)
    tools.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        target,
        f"oci:{tmp_path / 'back'}:v1",
        env=_nobody(tmp_path),
    )
    assert (tmp_path / "back" / "index.json").exists()
    # Pulling is all an anonymous caller may do there.
    pushed = tools.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{layout}:v1",
        f"{target}-again",
        env=_nobody(tmp_path),
        check=False,
    )
    assert pushed.returncode != 0


def test_podman_login_push_pull_logout(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    auth = {"REGISTRY_AUTH_FILE": str(tmp_path / "podman-auth.json")}
    wrong = tools.podman(
        "login",
        "--tls-verify=false",
        "-u",
        USER,
        "-p",
        "wrong-password",
        registry.host,
        env=auth,
        check=False,
    )
    assert wrong.returncode != 0
    login = tools.podman(
        "login",
        "--tls-verify=false",
        "-u",
        USER,
        "--password-stdin",
        registry.host,
        env=auth,
        input=PASSWORD,
    )
    assert "Login Succeeded" in login.stdout
    layout = _layout(tools, tmp_path)
    remote = f"{registry.host}/{repo}:v1"
    image_id = tools.podman("pull", "--quiet", f"oci:{layout}:v1", env=auth).stdout.strip()
    tools.podman("push", "--tls-verify=false", image_id, f"docker://{remote}", env=auth)
    pulled = tools.podman("pull", "--tls-verify=false", remote, env=auth)
    assert pulled.stdout.strip()
    tools.podman("logout", registry.host, env=auth)
    tools.podman("rmi", "--force", remote, env=auth)
    refused = tools.podman("pull", "--tls-verify=false", remote, env=auth, check=False)
    assert refused.returncode != 0


def test_buildah_login_and_creds(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    layout = _layout(tools, tmp_path)
    (tmp_path / "buildah-auth.json").write_text('{"auths": {}}')
    auth = {"REGISTRY_AUTH_FILE": str(tmp_path / "buildah-auth.json")}
    remote = f"docker://{registry.host}/{repo}:v1"
    image_id = tools.buildah("pull", "--quiet", f"oci:{layout}:v1", env=auth).stdout.strip()
    refused = tools.buildah("push", "--tls-verify=false", image_id, remote, env=auth, check=False)
    assert refused.returncode != 0
    tools.buildah("push", "--tls-verify=false", "--creds", CREDS, image_id, remote, env=auth)
    tools.buildah(
        "login",
        "--tls-verify=false",
        "-u",
        USER,
        "--password-stdin",
        registry.host,
        env=auth,
        input=PASSWORD,
    )
    tools.buildah("push", "--tls-verify=false", image_id, f"{remote}-again", env=auth)
    stored = json.loads((tmp_path / "buildah-auth.json").read_text())
    assert registry.host in stored["auths"]


def test_docker_login_then_manifest_inspect(
    tools: Tools, registry: RunningRegistry, repo: str, tmp_path: Path
) -> None:
    layout = _layout(tools, tmp_path)
    tools.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{layout}:v1",
        f"docker://{registry.host}/{repo}:v1",
    )
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    image = f"{registry.host}/{repo}:v1"
    refused = tools.run("docker", "manifest", "inspect", "--insecure", image, env=env, check=False)
    assert refused.returncode != 0
    wrong = tools.run(
        "docker",
        "login",
        "-u",
        USER,
        "--password-stdin",
        registry.host,
        env=env,
        input="wrong-password",
        check=False,
    )
    assert wrong.returncode != 0
    login = tools.run(
        "docker", "login", "-u", USER, "--password-stdin", registry.host, env=env, input=PASSWORD
    )
    assert "Login Succeeded" in login.stdout
    seen = json.loads(
        tools.run("docker", "manifest", "inspect", "--insecure", image, env=env).stdout
    )
    assert seen["schemaVersion"] == 2
    tools.run("docker", "logout", registry.host, env=env)
    again = tools.run("docker", "manifest", "inspect", "--insecure", image, env=env, check=False)
    assert again.returncode != 0


def test_oras_login_push_pull(
    registry: RunningRegistry, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("artifact.txt").write_text("pushed by oras\n")
    target = f"{registry.host}/{repo}:v1"
    anonymous = oras.client.OrasClient(hostname=registry.host, insecure=True)
    with pytest.raises(Exception, match=r"(?i)unauthorized|401|denied|authentication"):
        anonymous.push(target=target, files=["artifact.txt:text/plain"])
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    client.login(username=USER, password=PASSWORD)
    client.push(target=target, files=["artifact.txt:text/plain"])
    (pulled,) = client.pull(target=target, outdir=str(tmp_path / "out"))
    assert Path(pulled).read_text() == "pushed by oras\n"
