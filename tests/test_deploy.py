"""deploy/ and docs/deploy.md, checked by what runs without a container engine.

The YAML parses; every DOCKYARD_* variable and dotted setting they name is a field of
Settings, and their values validate and reach it; every `dockyard` command line they
give parses; the Dockerfile, the compose services, nginx's upstreams and the
Kubernetes objects agree with each other; the probe paths answer as the manifests
expect; the Docker build context builds the wheel that the image installs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel, SecretStr

from dockyard.cli import main
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.servers import DockyardServer, free_port
from tests.stored import break_storage

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
NGINX = DEPLOY / "nginx.conf"
KUBERNETES = DEPLOY / "kubernetes"
DOCS = ROOT / "docs" / "deploy.md"
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
# Read by settings.py itself, not a field: it names the YAML settings file.
NOT_FIELDS = {"DOCKYARD_CONFIG"}
ENV_NAME = re.compile(r"\bDOCKYARD_[A-Z0-9_]*")


# Settings


def _field_path(variable: str) -> list[str]:
    return variable.removeprefix("DOCKYARD_").lower().split("__")


def _is_setting(names: list[str]) -> bool:
    """Whether ``names`` walks the nested Settings models down to a field that is a value."""
    model: Any = Settings
    for name in names:
        if not _is_model(model) or name not in model.model_fields:
            return False
        model = model.model_fields[name].annotation
    return not _is_model(model)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _as_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _settings_from(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings() built from exactly these variables; each must reach its own field."""
    with monkeypatch.context() as m:
        for name in [n for n in os.environ if n.startswith("DOCKYARD_")]:
            m.delenv(name)
        for name, value in environment.items():
            m.setenv(name, value)
        settings = Settings()
    for name, value in environment.items():
        reached: Any = settings
        for attribute in _field_path(name):
            reached = getattr(reached, attribute)
        assert _as_text(reached) == value, f"{name}={value!r} gave {reached!r}"
    return settings


def _dockyard_variables(environment: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environment.items() if k.startswith("DOCKYARD_")}


@pytest.mark.parametrize(
    "path", [DOCKERFILE, NGINX, DOCS, *YAML_FILES], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_dockyard_variable_is_a_setting(path: Path) -> None:
    names = {n for n in ENV_NAME.findall(path.read_text()) if n != "DOCKYARD_"} - NOT_FIELDS
    unknown = sorted(n for n in names if not _is_setting(_field_path(n)))
    assert unknown == [], f"{path.name} names variables that Settings does not have"


def test_settings_the_docs_name_exist() -> None:
    text = DOCS.read_text()
    sections = {
        name for name, field in Settings.model_fields.items() if _is_model(field.annotation)
    }
    dotted = {
        match.group(1)
        for match in re.finditer(r"`([a-z_]+(?:\.[a-z0-9_]+)+)(?::[^`]*)?`", text)
        if match.group(1).split(".")[0] in sections
    }
    assert {"storage.s3.redirect", "jobs.run_in_serve", "auth.external_url"} <= dotted
    assert [d for d in sorted(dotted) if not _is_setting(d.split("."))] == []
    # In the tables, the env column is the variable of the setting in the first column.
    rows = re.findall(r"^\| `([a-z_.0-9]+)` \| `(DOCKYARD_[A-Z0-9_]+)` \|", text, flags=re.M)
    assert len(rows) > 15
    for setting, variable in rows:
        assert _is_setting(setting.split(".")), setting
        assert variable == "DOCKYARD_" + "__".join(setting.upper().split(".")), setting


# dockyard command lines


def _check_names(argv: list[str]) -> None:
    """The (sub)commands and the options named in ``argv`` exist; values are not checked."""
    command: click.Command = main
    words = list(argv)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        name = words.pop(0)
        assert name in command.commands, f"dockyard has no command {name!r}: {argv}"
        command = command.commands[name]
    options = {"--help"}
    for parameter in command.params:
        options.update([*parameter.opts, *parameter.secondary_opts])
    for word in words:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in options, f"no option {word} in dockyard {argv}"


def _check_command_line(argv: list[str]) -> None:
    """The whole command line parses: click parses every option and value before --help."""
    _check_names(argv)
    result = CliRunner().invoke(main, [*argv, "--help"])
    assert result.exit_code == 0, f"dockyard {shlex.join(argv)}: {result.output}"


_IN_TEXT = re.compile(r"(?:^|&&\s*|;\s*|\s--\s+)dockyard\s+([^`\n#]+)")


def _command_lines_in_docs() -> Iterator[list[str]]:
    text = DOCS.read_text()
    snippets = re.findall(r"`([^`\n]+)`", text)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        snippets.extend(block.replace("\\\n", " ").splitlines())
    for snippet in snippets:
        for match in _IN_TEXT.finditer(snippet):
            words = shlex.split(match.group(1).rstrip(" .,;)…"))
            if words:
                yield words


def test_dockyard_command_lines_in_the_docs_parse() -> None:
    seen = list(_command_lines_in_docs())
    assert ["migrate"] in seen
    assert ["worker"] in seen
    for argv in seen:
        _check_names(argv)


# The Dockerfile


def _instructions(path: Path) -> list[tuple[str, str]]:
    logical = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in logical.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions(DOCKERFILE)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _exec_form(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    (arguments,) = [args for k, args in stage if k == keyword]
    argv: list[str] = json.loads(arguments)
    return argv


def _healthcheck() -> list[str]:
    (healthcheck,) = [args for k, args in _final_stage() if k == "HEALTHCHECK"]
    return list(json.loads(healthcheck.split(" CMD ", 1)[1]))


def test_the_dockerfile_builds_a_non_root_dockyard_image() -> None:
    instructions = _instructions(DOCKERFILE)
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert bases
    assert set(bases) == {"python:3.11-slim"}
    stage = _final_stage()
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(k == "RUN" and "pip install" in args for k, args in stage)
    assert _exec_form(stage, "ENTRYPOINT") == ["dockyard"]
    cmd = _exec_form(stage, "CMD")
    assert cmd[:3] == ["serve", "--host", "0.0.0.0"]
    _check_command_line(cmd)
    exposed = [args for keyword, args in stage if keyword == "EXPOSE"]
    assert exposed == [str(Settings.model_fields["port"].default)]
    health = _healthcheck()
    assert health[0] == "python", "slim has no curl or wget"
    assert "/api/v2.0/health" in health[-1]


def test_the_dockerfiles_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {}
    for keyword, args in _final_stage():
        if keyword == "ENV":
            environment.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    settings = _settings_from(_dockyard_variables(environment), monkeypatch)
    assert settings.data_dir == Path("/var/lib/dockyard")


def test_the_healthcheck_tells_a_serving_registry_from_a_dead_one(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    command = [sys.executable, *_healthcheck()[1:]]
    server = DockyardServer(tmp_path / "data", projects=(), env=server_env).start()
    try:
        env = {**server.environment(), "DOCKYARD_PORT": str(server.port)}
        alive = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    finally:
        server.stop()
    assert alive.returncode == 0, alive.stderr
    env["DOCKYARD_PORT"] = str(free_port())
    dead = subprocess.run(command, env=env, capture_output=True, timeout=30)
    assert dead.returncode != 0


def _build_context(destination: Path) -> Path:
    """What `docker build .` sends, by .dockerignore: everything out, then the `!` paths."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    included = [rule[1:] for rule in rules if rule.startswith("!")]
    destination.mkdir()
    for name in included:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, destination / name)
    copied = [
        args.split()[0]
        for keyword, args in _instructions(DOCKERFILE)
        if keyword == "COPY" and not args.startswith("--from")
    ]
    assert copied
    assert all(source in included for source in copied)
    return destination


def test_the_build_context_builds_the_wheel_the_image_installs(tmp_path: Path) -> None:
    context = _build_context(tmp_path / "context")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("dockyard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "dockyard = dockyard.cli:main" in archive.read(entry_points).decode()
    assert any(n.startswith("dockyard/db/migrations/versions/") for n in names)


# YAML files


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    documents = _documents(path)
    assert documents
    assert all(isinstance(d, dict) for d in documents)


# docker-compose.yml and nginx.conf


def _compose() -> dict[str, Any]:
    (compose,) = _documents(COMPOSE)
    return compose


def _dockyard_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def _command(service: dict[str, Any]) -> list[str]:
    return list(service.get("command") or _exec_form(_final_stage(), "CMD"))


def _interpolated(value: str) -> str:
    """Compose's ${VAR:-default} as its default, ${VAR:?error} and ${VAR} as a sample."""
    return re.sub(
        r"\$\{[A-Za-z0-9_]+(?::?([-?])([^}]*))?\}",
        lambda m: m.group(2) if m.group(1) == "-" else "sample-value",
        value,
    )


def _listening_port(command: list[str], environment: dict[str, str]) -> int:
    """The port `dockyard serve` listens on: --port, else DOCKYARD_PORT, else the default."""
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    port = environment.get("DOCKYARD_PORT")
    return int(port) if port else int(Settings.model_fields["port"].default)


def test_compose_services_reference_each_other() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on a missing {target}"
            if condition["condition"] == "service_healthy":
                healthcheck = services[target].get("healthcheck")
                assert healthcheck or target in _dockyard_services(), target
                assert not (healthcheck or {}).get("disable"), target
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
            else:
                assert source in compose["volumes"], source
    dockyard = _dockyard_services()
    for service in dockyard.values():
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()


def test_compose_runs_migrate_then_replicas_without_jobs_then_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dockyard = _dockyard_services()
    roles: dict[str, list[str]] = {}
    for name, service in dockyard.items():
        command = _command(service)
        _check_command_line(command)
        roles.setdefault(command[0], []).append(name)
        environment = {k: _interpolated(str(v)) for k, v in service["environment"].items()}
        settings = _settings_from(_dockyard_variables(environment), monkeypatch)
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.storage.driver == "s3"
        if command[0] == "serve":
            assert settings.jobs.run_in_serve is False, name
        if command[0] in ("serve", "worker"):
            assert not settings.database.auto_migrate
            depends = service["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully"
        if command[0] in ("worker", "migrate"):
            # The image's health check asks HTTP, which these do not serve.
            assert service["healthcheck"] == {"disable": True}, name
    assert len(roles["serve"]) >= 2
    assert roles["worker"]
    assert roles["migrate"] == ["migrate"]


def test_nginx_balances_every_replica_on_the_port_it_listens_on() -> None:
    text = NGINX.read_text()
    block = re.search(r"upstream (\S+) \{(.*?)\}", text, flags=re.S)
    assert block is not None
    upstream, servers = block.groups()
    assert f"proxy_pass http://{upstream};" in text
    targets = dict(
        (host, int(port)) for host, port in re.findall(r"^\s*server (\S+):(\d+)", servers, re.M)
    )
    dockyard = _dockyard_services()
    replicas = {n: s for n, s in dockyard.items() if _command(s)[0] == "serve"}
    assert set(targets) == set(replicas)
    for name, port in targets.items():
        assert port == _listening_port(_command(replicas[name]), replicas[name]["environment"])
    for directive in ("client_max_body_size 0;", "proxy_request_buffering off;"):
        assert directive in text
    (listen,) = re.findall(r"^\s*listen (\d+);", text, flags=re.M)
    (balancer,) = [
        s for s in _compose()["services"].values() if "./nginx.conf" in str(s.get("volumes"))
    ]
    published = [p.split(":") for p in balancer["ports"]]
    assert [container for _, container in published] == [listen]
    external = _interpolated(dockyard["dockyard-1"]["environment"]["DOCKYARD_AUTH__EXTERNAL_URL"])
    assert external.endswith(f":{published[0][0]}")


# Kubernetes


def _objects() -> list[dict[str, Any]]:
    """The Kubernetes objects (kustomization.yaml is kustomize's, not one)."""
    return [
        d
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for d in _documents(path)
    ]


def _named(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _objects() if o["kind"] == kind}


def _pod_specs() -> dict[str, dict[str, Any]]:
    return {
        name: workload["spec"]["template"]["spec"]
        for kind in ("Deployment", "Job")
        for name, workload in _named(kind).items()
    }


def _web_container() -> dict[str, Any]:
    (container,) = _pod_specs()["dockyard-web"]["containers"]
    return container


def _probe_paths() -> dict[str, str]:
    container = _web_container()
    return {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }


def test_kubernetes_objects_are_complete_and_in_one_namespace() -> None:
    objects = _objects()
    assert {"Deployment", "Service", "Ingress", "Secret", "ConfigMap", "Job"} <= {
        o["kind"] for o in objects
    }
    for o in objects:
        assert o["apiVersion"]
        assert o["metadata"]["name"]
        assert o["kind"] == "Namespace" or o["metadata"]["namespace"] == "dockyard"
    (kustomization,) = _documents(KUBERNETES / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert all((KUBERNETES / name).exists() for name in listed)
    unlisted = {p.name for p in KUBERNETES.glob("*.yaml")} - listed
    # The Secret is an example to copy, the Job an alternative for pipelines.
    assert unlisted == {"kustomization.yaml", "secret.example.yaml", "job-migrate.yaml"}


def test_kubernetes_objects_reference_each_other() -> None:
    deployments = _named("Deployment")
    web = deployments["dockyard-web"]
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service,) = _named("Service").values()
    selected = [
        name
        for name, d in deployments.items()
        if service["spec"]["selector"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert selected == ["dockyard-web"]
    container = _web_container()
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in port_names
    assert port_names[service_port["targetPort"]] == _listening_port(container["args"], {})
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    (ingress,) = _named("Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] == service_port["name"]
    for budget in _named("PodDisruptionBudget").values():
        assert budget["spec"]["selector"] == web["spec"]["selector"]


def _container_environments() -> Iterator[tuple[str, list[str], dict[str, str]]]:
    config_maps = _named("ConfigMap")
    secrets = _named("Secret")
    for pod, spec in _pod_specs().items():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            environment: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    environment.update(config_maps[source["configMapRef"]["name"]]["data"])
                else:
                    environment.update(secrets[source["secretRef"]["name"]]["stringData"])
            environment.update({e["name"]: e["value"] for e in container.get("env", [])})
            yield f"{pod}/{container['name']}", container["args"], environment


def test_kubernetes_containers_run_valid_commands_and_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (kustomization,) = _documents(KUBERNETES / "kustomization.yaml")
    image_names = {image["name"] for image in kustomization["images"]}
    uid = int(next(a for k, a in _final_stage() if k == "USER").split(":")[0])
    for spec in _pod_specs().values():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            assert container["image"].split(":")[0] in image_names
    roles = set()
    for name, args, environment in _container_environments():
        _check_command_line(args)
        roles.add(args[0])
        settings = _settings_from(_dockyard_variables(environment), monkeypatch)
        assert settings.database_url.startswith("postgresql+asyncpg://"), name
        assert settings.storage.driver == "s3"
        assert settings.auth.external_url.startswith("https://")
        if args[0] == "serve":
            assert settings.jobs.run_in_serve is False, name
        if args[0] in ("serve", "worker"):
            assert not settings.database.auto_migrate, name
    assert roles == {"serve", "worker", "migrate"}


async def test_the_probe_paths_answer_as_the_manifests_expect(
    anonymous: httpx.AsyncClient, registry_app: Any
) -> None:
    probes = _probe_paths()
    assert probes["readinessProbe"] == "/api/v2.0/health"
    assert _healthcheck()[-1].count(probes["readinessProbe"]) == 1
    for path in set(probes.values()):
        r = await anonymous.get(path)
        assert r.status_code == 200, (path, r.text)
    # What the docs say clients see, and why /v2/ is no probe: 401 with the challenge.
    r = await anonymous.get("/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    # A replica that cannot reach its bucket becomes unready, but is not restarted.
    registry: Registry = registry_app.state.registry
    break_storage(registry.settings)
    assert (await anonymous.get(probes["readinessProbe"])).status_code == 503
    for probe in ("startupProbe", "livenessProbe"):
        assert (await anonymous.get(probes[probe])).status_code == 200


# docs/deploy.md


def test_the_docs_name_files_that_exist() -> None:
    text = DOCS.read_text()
    named = set(re.findall(r"`((?:deploy|docs)/[^`\s]*|\.dockerignore)`", text))
    assert {"deploy/Dockerfile", "deploy/docker-compose.yml", "deploy/kubernetes/"} <= named
    assert [n for n in sorted(named) if not (ROOT / n).exists()] == []
    for name in re.findall(r"^\| `([\w.-]+\.yaml)` \|", text, flags=re.M):
        assert (KUBERNETES / name).exists(), name
