"""The command line: ``dockyard serve``, ``worker``, ``migrate``, ``admin``, ``artifacts``,
``labels``, ``immutability``, ``gc``, ``quota``, ``retention``; scanning's commands
are in cli/scanning.py."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockyard.settings import Settings, load_settings

if TYPE_CHECKING:
    from dockyard.artifacts.labels import LabelInfo
    from dockyard.jobs.queue import JobInfo
    from dockyard.projects.immutability import RuleInfo
    from dockyard.projects.quotas import QuotaInfo
    from dockyard.registry import Registry

T = TypeVar("T")

_settings_options = [
    click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, exists=True),
        help="YAML settings file (also DOCKYARD_CONFIG).",
    ),
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the database and blobs live (default ./dockyard-data).",
    ),
    click.option("--database-url", help="SQLAlchemy URL of the metadata database."),
]


def settings_options(func: Any) -> Any:
    for option in reversed(_settings_options):
        func = option(func)
    return func


def _settings(
    config: str | None, data_dir: Path | None, database_url: str | None, **overrides: Any
) -> Settings:
    settings = load_settings(config, data_dir=data_dir, **overrides)
    if database_url:
        settings.database.url = database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _migrate_if_allowed(settings: Settings) -> None:
    """Bring the schema up to date before use, unless the settings leave that to an operator."""
    from dockyard.db.migrate import upgrade

    if settings.database.auto_migrate:
        upgrade(settings.database_url)


@click.group()
@click.version_option(package_name="dockyard")
def main() -> None:
    """dockyard: a registry for every OCI artifact."""


@main.command()
@settings_options
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5000).")
@click.option("--workers", type=int, help="Server processes (default 1).")
def serve(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
) -> None:
    """Run the registry."""
    import uvicorn

    settings = _settings(config, data_dir, database_url, host=host, port=port, workers=workers)
    _migrate_if_allowed(settings)
    _run(settings, lambda registry: _ensure_admin(registry))
    click.echo(
        f"dockyard listening on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir.resolve()})"
    )
    server = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "access_log": False,
        "loop": "uvloop",
        "http": "httptools",
    }
    if settings.workers > 1:
        # Worker processes rebuild the app from the same settings, passed in their environment.
        os.environ.update(settings.worker_environment(config))
        uvicorn.run(
            "dockyard.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **server,  # type: ignore[arg-type]
        )
        return
    from dockyard.app import create_app

    uvicorn.run(create_app(settings), **server)  # type: ignore[arg-type]


@main.command()
@settings_options
def migrate(config: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """Upgrade the metadata database to the newest schema."""
    from dockyard.db.migrate import upgrade

    settings = _settings(config, data_dir, database_url)
    upgrade(settings.database_url)
    click.echo("database is at the newest schema")


@main.command()
@settings_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Jobs run at once (default: the setting jobs.workers).",
)
def worker(
    config: str | None, data_dir: Path | None, database_url: str | None, concurrency: int | None
) -> None:
    """Run background jobs and fire schedules, without serving HTTP; stops on SIGTERM or Ctrl-C,
    letting running jobs finish within jobs.shutdown_grace_seconds."""
    settings = _settings(config, data_dir, database_url)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _migrate_if_allowed(settings)

    async def work(registry: Registry) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        runner = registry.job_runner(slots=concurrency)
        await runner.start()
        kinds = ", ".join(registry.job_handlers.kinds())
        click.echo(f"dockyard worker {runner.worker.id}: {runner.worker.slots} slots ({kinds})")
        try:
            await stopping.wait()
        finally:
            await runner.stop()
        click.echo("dockyard worker stopped")

    _run(settings, work)


async def _ensure_admin(registry: Registry) -> None:
    """Create the ``admin`` account on first use, printing its password if it was generated."""
    password = registry.settings.admin_password
    generated = await registry.users.ensure_admin(password.get_secret_value() if password else None)
    if generated:
        click.echo(
            f"created the 'admin' account with the password {generated}\n"
            "  (shown this once: change it with 'dockyard admin reset-password admin')",
            err=True,
        )


def _run(settings: Settings, work: Callable[[Registry], Awaitable[T]]) -> T:
    """Run ``work`` with the registry's services, turning domain errors into CLI errors."""
    from dockyard.errors import DockyardError
    from dockyard.registry import Registry

    async def run() -> T:
        from dockyard.app import app_of

        registry = Registry.build(settings)
        app_of(registry)
        try:
            return await work(registry)
        finally:
            await registry.close()

    try:
        return asyncio.run(run())
    except DockyardError as exc:
        raise click.ClickException(exc.message) from None


def _on_registry(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    work: Callable[[Registry], Awaitable[T]],
) -> T:
    """What a command does with the registry's services: settings from the options, the
    schema migrated when that is allowed, then ``work``."""
    settings = _settings(config, data_dir, database_url)
    _migrate_if_allowed(settings)
    return _run(settings, work)


@main.group()
def admin() -> None:
    """Manage users and projects without the API (the same services as the API)."""


_new_password = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (asked for when not given).",
)


@admin.command("create-user")
@settings_options
@click.argument("username")
@_new_password
@click.option("--email", default="", help="E-mail address.")
@click.option("--realname", default="", help="Full name.")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user a system admin.")
def create_user(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    username: str,
    password: str,
    email: str,
    realname: str,
    is_admin: bool,
) -> None:
    """Create a local user."""
    user = _on_registry(
        config,
        data_dir,
        database_url,
        lambda registry: registry.users.create(
            username, password, email=email, realname=realname, admin=is_admin
        ),
    )
    click.echo(
        f"created user {user.username} (id {user.id}{', system admin' if user.admin else ''})"
    )


@admin.command("reset-password")
@settings_options
@click.argument("username")
@_new_password
def reset_password(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    username: str,
    password: str,
) -> None:
    """Set a local user's password (the admin's too)."""
    _on_registry(
        config,
        data_dir,
        database_url,
        lambda registry: registry.users.set_password(username, password),
    )
    click.echo(f"the password of {username} is changed")


@admin.command("create-project")
@settings_options
@click.argument("name")
@click.option("--public", is_flag=True, help="Anyone may pull from it, logged in or not.")
def create_project(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    name: str,
    public: bool,
) -> None:
    """Create a project, owned by the admin."""

    async def create(registry: Registry) -> int:
        await _ensure_admin(registry)
        owner = await registry.users.get("admin")
        project = await registry.projects.create(name, public=public, owner_id=owner.id)
        return project.id

    project_id = _on_registry(config, data_dir, database_url, create)
    click.echo(f"created {'public' if public else 'private'} project {name} (id {project_id})")


@main.group()
def artifacts() -> None:
    """Inspect stored artifacts."""


@artifacts.command("list")
@settings_options
@click.argument("repository")
@click.option("--untagged", is_flag=True, help="Only artifacts without a tag.")
def list_artifacts(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    repository: str,
    untagged: bool,
) -> None:
    """List the artifacts of REPOSITORY: digest, kind, size, tags."""
    listed = _on_registry(
        config,
        data_dir,
        database_url,
        lambda registry: registry.manifests.artifacts(repository, untagged_only=untagged),
    )
    for artifact in listed:
        tags = ",".join(artifact.tags) or "<untagged>"
        click.echo(f"{artifact.digest}\t{artifact.kind}\t{artifact.size}\t{tags}")


@artifacts.command("label")
@settings_options
@click.argument("repository")
@click.argument("reference")
@click.argument("label_id", type=click.IntRange(min=1))
@click.option("--remove", is_flag=True, help="Take the label off instead.")
def label_artifact(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    repository: str,
    reference: str,
    label_id: int,
    remove: bool,
) -> None:
    """Put label LABEL_ID on the artifact REFERENCE (a tag or a digest) of REPOSITORY."""
    from dockyard.events.services import SYSTEM

    async def change(registry: Registry) -> None:
        if remove:
            await registry.labels.detach(repository, reference, label_id, actor=SYSTEM)
        else:
            await registry.labels.attach(repository, reference, label_id, actor=SYSTEM)

    _on_registry(config, data_dir, database_url, change)
    click.echo(
        f"{'took' if remove else 'put'} label {label_id} {'off' if remove else 'on'} "
        f"{repository} {reference}"
    )


@main.group()
def labels() -> None:
    """Global and project labels (the same services as the API)."""


@labels.command("list")
@settings_options
@click.option("--project", help="A project's labels instead of the global ones.")
def list_labels(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str | None
) -> None:
    """List labels: id, name, color, description."""

    async def listed(registry: Registry) -> list[LabelInfo]:
        project_id = (await registry.projects.get(project)).id if project else None
        found, _ = await registry.labels.search(project_id=project_id, limit=10_000)
        return found

    for label in _on_registry(config, data_dir, database_url, listed):
        click.echo(f"{label.id}\t{label.name}\t{label.color}\t{label.description}")


@labels.command("create")
@settings_options
@click.argument("name")
@click.option("--project", help="Make it a label of this project (default: global).")
@click.option("--color", default="", help="#RGB or #RRGGBB.")
@click.option("--description", default="", help="What the label means.")
def create_label(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    name: str,
    project: str | None,
    color: str,
    description: str,
) -> None:
    """Create a global label, or a project's."""
    from dockyard.events.services import SYSTEM

    async def create(registry: Registry) -> LabelInfo:
        project_id = (await registry.projects.get(project)).id if project else None
        return await registry.labels.create(
            name, project_id=project_id, color=color, description=description, actor=SYSTEM
        )

    label = _on_registry(config, data_dir, database_url, create)
    where = f"project {project}" if project else "global"
    click.echo(f"created {where} label {label.name} (id {label.id})")


@labels.command("delete")
@settings_options
@click.argument("label_id", type=click.IntRange(min=1))
def delete_label(
    config: str | None, data_dir: Path | None, database_url: str | None, label_id: int
) -> None:
    """Delete a label; it leaves every artifact that carried it."""
    from dockyard.events.services import SYSTEM

    _on_registry(
        config,
        data_dir,
        database_url,
        lambda registry: registry.labels.delete(label_id, actor=SYSTEM),
    )
    click.echo(f"deleted label {label_id}")


@main.group()
def immutability() -> None:
    """A project's immutable tag rules (the same services as the API)."""


@immutability.command("list")
@settings_options
@click.argument("project")
def list_rules(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str
) -> None:
    """List PROJECT's rules: id, repositories, tags, and whether disabled."""

    async def listed(registry: Registry) -> list[RuleInfo]:
        return await registry.immutability.rules((await registry.projects.get(project)).id)

    for rule in _on_registry(config, data_dir, database_url, listed):
        state = "disabled" if rule.disabled else "enabled"
        click.echo(
            f"{rule.id}\t{rule.repository_decoration} {rule.repository_pattern}\t"
            f"{rule.tag_decoration} {rule.tag_pattern}\t{state}"
        )


@immutability.command("add")
@settings_options
@click.argument("project")
@click.option("--repositories", default="**", show_default=True, help="Doublestar pattern.")
@click.option("--tags", default="**", show_default=True, help="Doublestar pattern.")
@click.option("--exclude-repositories", is_flag=True, help="Cover the other repositories.")
@click.option("--exclude-tags", is_flag=True, help="Cover the other tags.")
def add_rule(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    project: str,
    repositories: str,
    tags: str,
    exclude_repositories: bool,
    exclude_tags: bool,
) -> None:
    """Make the tags of PROJECT that the patterns cover immutable."""
    from dockyard.events.services import SYSTEM
    from dockyard.projects.immutability import RuleSpec

    spec = RuleSpec(
        repository_pattern=repositories,
        repository_decoration="repoExcludes" if exclude_repositories else "repoMatches",
        tag_pattern=tags,
        tag_decoration="excludes" if exclude_tags else "matches",
    )

    async def add(registry: Registry) -> RuleInfo:
        found = await registry.projects.get(project)
        return await registry.immutability.create(found.id, found.name, spec, actor=SYSTEM)

    rule = _on_registry(config, data_dir, database_url, add)
    click.echo(f"added immutable tag rule {rule.id} to project {project}")


@immutability.command("delete")
@settings_options
@click.argument("project")
@click.argument("rule_id", type=click.IntRange(min=1))
def delete_rule(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str, rule_id: int
) -> None:
    """Delete rule RULE_ID of PROJECT."""
    from dockyard.events.services import SYSTEM

    async def remove(registry: Registry) -> None:
        found = await registry.projects.get(project)
        await registry.immutability.delete(found.id, found.name, rule_id, actor=SYSTEM)

    _on_registry(config, data_dir, database_url, remove)
    click.echo(f"deleted immutable tag rule {rule_id} of project {project}")


async def _run_job(registry: Registry, job: JobInfo) -> JobInfo:
    """Run a job just enqueued here, or follow it if a server's worker takes it first,
    with a progress bar on stderr; the job as it ended."""
    from tqdm import tqdm

    from dockyard.jobs.worker import Worker

    worker = Worker(registry.jobs, registry.job_handlers, registry.settings.jobs, slots=1)
    running = asyncio.create_task(worker.run_one(job.id))
    with tqdm(desc="waiting for a worker", unit=" items", dynamic_ncols=True) as bar:
        while True:
            job = await registry.jobs.get(job.id)
            progress = job.progress
            if progress.total != bar.total:
                bar.reset(total=progress.total)
            bar.n = progress.done
            bar.set_description_str(progress.message or job.status, refresh=False)
            bar.refresh()
            if job.finished_at is not None:
                break
            await asyncio.sleep(0.2)
    await running
    return job


@main.group()
def gc() -> None:
    """Garbage collection: run it (or a dry run), its history, its schedule."""


@gc.command("run")
@settings_options
@click.option("--dry-run", is_flag=True, help="Report what would go; remove nothing.")
@click.option(
    "--delete-untagged/--keep-untagged",
    default=None,
    help="Also delete artifacts without tags (default: the gc.delete_untagged setting).",
)
@click.option(
    "--grace-minutes",
    type=click.FloatRange(min=0, max=525600),
    help="Keep what was used this recently (default: the gc.grace_minutes setting, 120).",
)
def run_gc(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    dry_run: bool,
    delete_untagged: bool | None,
    grace_minutes: float | None,
) -> None:
    """Collect garbage now, with a progress bar; pushes and pulls go on meanwhile.

    The run is a job on the registry's queue, run by this command (or followed, if a
    server's worker takes it first), and stays in the history.
    """
    from dockyard.blobs.gc_runs import describe

    parameters: dict[str, Any] = {"dry_run": dry_run}
    if delete_untagged is not None:
        parameters["delete_untagged"] = delete_untagged
    if grace_minutes is not None:
        parameters["grace_minutes"] = grace_minutes

    async def collect(registry: Registry) -> JobInfo:
        return await _run_job(registry, await registry.gc.start(parameters))

    job = _on_registry(config, data_dir, database_url, collect)
    if job.status != "succeeded":
        raise click.ClickException(f"garbage collection {job.id} {job.status}: {job.error or ''}")
    click.echo(f"garbage collection {job.id}: {describe(job.result)}")


@gc.command("history")
@settings_options
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def gc_history(
    config: str | None, data_dir: Path | None, database_url: str | None, limit: int
) -> None:
    """The latest runs, newest first: id, status, created, figures or error."""
    from dockyard.blobs.gc_runs import describe

    async def listed(registry: Registry) -> list[JobInfo]:
        runs, _ = await registry.gc.history(offset=0, limit=limit)
        return runs

    for job in _on_registry(config, data_dir, database_url, listed):
        if job.status == "succeeded":
            outcome = describe(job.result)
        else:
            outcome = job.error or job.progress.message
        click.echo(f"{job.id}\t{job.status}\t{job.created_at:%Y-%m-%d %H:%M:%S}\t{outcome}")


@gc.command("schedule")
@settings_options
@click.option(
    "--type",
    "kind",
    type=click.Choice(["None", "Hourly", "Daily", "Weekly", "Custom"]),
    help="Set the schedule (None: no scheduled runs); without it, show the schedule.",
)
@click.option("--cron", help="A Custom schedule's expression (six fields, seconds first; UTC).")
@click.option("--delete-untagged/--keep-untagged", default=None)
@click.option("--grace-minutes", type=click.FloatRange(min=0, max=525600))
def gc_schedule(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    kind: str | None,
    cron: str | None,
    delete_untagged: bool | None,
    grace_minutes: float | None,
) -> None:
    """Show or set when garbage collection runs by itself."""
    from dockyard.blobs.gc_runs import GCSchedule

    parameters: dict[str, Any] = {}
    if delete_untagged is not None:
        parameters["delete_untagged"] = delete_untagged
    if grace_minutes is not None:
        parameters["grace_minutes"] = grace_minutes

    async def scheduled(registry: Registry) -> GCSchedule:
        if kind is None:
            return await registry.gc.schedule()
        return await registry.gc.set_schedule(kind, cron, parameters)  # type: ignore[arg-type]

    schedule = _on_registry(config, data_dir, database_url, scheduled)
    if schedule.type == "None":
        click.echo("no scheduled garbage collection")
        return
    when = f", next at {schedule.next_run_at:%Y-%m-%d %H:%M:%S} UTC" if schedule.next_run_at else ""
    click.echo(f"{schedule.type} ({schedule.cron}){when}, parameters {schedule.parameters}")


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3}
_UNITS |= {"gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2}
_UNITS |= {"gib": 1024**3, "tib": 1024**4}


def _bytes(value: str) -> int:
    """``-1``, a number of bytes, or one with a unit (``500MB``, ``10GiB``)."""
    import re

    match = re.fullmatch(r"\s*(-1|\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or (match.group(1) == "-1" and unit):
        raise click.BadParameter(f"{value!r}: give -1 (unlimited), bytes, or e.g. 500MB, 10GiB")
    return int(float(match.group(1)) * _UNITS[unit])


@main.group()
def quota() -> None:
    """Project quotas: limits, exact usage, and a check of it against a recount."""


def _show_quota(info: QuotaInfo) -> str:
    def limit(value: int) -> str:
        return "unlimited" if value < 0 else str(value)

    return (
        f"{info.project}\tstorage {info.storage_used} of {limit(info.storage_limit)} bytes\t"
        f"artifacts {info.artifact_count} of {limit(info.count_limit)}"
    )


@quota.command("show")
@settings_options
@click.argument("project", required=False)
def show_quota(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str | None
) -> None:
    """The quota of PROJECT, or of every project."""

    async def shown(registry: Registry) -> list[QuotaInfo]:
        if project is not None:
            return [await registry.quotas.get((await registry.projects.get(project)).id)]
        quotas, _ = await registry.quotas.search(limit=100_000)
        return quotas

    for info in _on_registry(config, data_dir, database_url, shown):
        click.echo(_show_quota(info))


@quota.command("set")
@settings_options
@click.argument("project")
@click.option("--storage", help="Bytes (-1: unlimited); units like 500MB or 10GiB.")
@click.option("--count", type=click.IntRange(min=-1), help="Artifacts (-1: unlimited).")
def set_quota(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    project: str,
    storage: str | None,
    count: int | None,
) -> None:
    """Set PROJECT's limits."""
    limit = _bytes(storage) if storage is not None else None

    async def changed(registry: Registry) -> QuotaInfo:
        found = await registry.projects.get(project)
        return await registry.quotas.set_limits(found.id, storage=limit, count=count)

    click.echo(_show_quota(_on_registry(config, data_dir, database_url, changed)))


@quota.command("check")
@settings_options
def check_quotas(config: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """Recount every project's usage from scratch and compare it with the kept one;
    exit 1 if any differs."""

    async def compared(registry: Registry) -> list[tuple[QuotaInfo, tuple[int, int]]]:
        quotas, _ = await registry.quotas.search(limit=100_000)
        return [(q, await registry.quotas.recompute(q.project_id)) for q in quotas]

    drift = 0
    for info, (storage, count) in _on_registry(config, data_dir, database_url, compared):
        same = (info.storage_used, info.artifact_count) == (storage, count)
        drift += not same
        click.echo(
            f"{info.project}\tkept {info.storage_used} bytes, {info.artifact_count} artifacts"
            f"\trecounted {storage} bytes, {count} artifacts\t{'ok' if same else 'DIFFERS'}"
        )
    if drift:
        raise click.ClickException(f"{drift} projects' usage differs from a recount")


@main.group()
def retention() -> None:
    """A project's tag retention policy: show it, run it (or a dry run) with a progress bar."""


@retention.command("show")
@settings_options
@click.argument("project")
def show_retention(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str
) -> None:
    """PROJECT's policy: its rules, in order, and its schedule."""
    from dockyard.projects.retention import PolicyInfo

    async def shown(registry: Registry) -> PolicyInfo | None:
        return await registry.retention.of_project((await registry.projects.get(project)).id)

    policy = _on_registry(config, data_dir, database_url, shown)
    if policy is None:
        click.echo(f"project {project} has no retention policy")
        return
    click.echo(f"policy {policy.id}, {'schedule ' + policy.cron if policy.cron else 'by hand'}")
    for number, rule in enumerate(policy.rules, start=1):
        state = " (disabled)" if rule.disabled else ""
        click.echo(f"{number}. {rule.describe()}{state}")


@retention.command("run")
@settings_options
@click.argument("project")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
def run_retention(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str, dry_run: bool
) -> None:
    """Run PROJECT's policy now and list what it kept and removed, and why."""
    from dockyard.projects.retention import Outcome

    async def ran(registry: Registry) -> tuple[JobInfo, list[Outcome]]:
        policy = await registry.retention.of_project((await registry.projects.get(project)).id)
        if policy is None:
            raise click.ClickException(f"project {project} has no retention policy")
        job = await _run_job(registry, await registry.retention.start(policy.id, dry_run=dry_run))
        outcomes, _ = await registry.retention.outcomes(job.id, limit=1_000_000)
        return job, outcomes

    job, outcomes = _on_registry(config, data_dir, database_url, ran)
    if job.status != "succeeded":
        raise click.ClickException(f"retention run {job.id} {job.status}: {job.error or ''}")
    for o in outcomes:
        action = "retain" if o.kept else ("would remove" if dry_run else "remove")
        tags = ",".join(o.tags) or "<untagged>"
        click.echo(f"{action}\t{o.repository}@{o.digest}\t{tags}\t{o.reason}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"retention run {job.id}: kept {job.result['kept']}, {verb} {job.result['removed']}")


@retention.command("add-rule")
@settings_options
@click.argument("project")
@click.option(
    "--template",
    required=True,
    type=click.Choice(
        ["latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]
    ),
    help="What the rule retains.",
)
@click.option("--count", type=click.IntRange(1, 100_000), help="K, N or days (not for always).")
@click.option("--repositories", default="**", show_default=True, help="Doublestar pattern.")
@click.option("--exclude-repositories", is_flag=True, help="Cover the other repositories.")
@click.option("--tags", default="**", show_default=True, help="Doublestar pattern.")
@click.option("--exclude-tags", is_flag=True, help="Consider the other tags.")
@click.option("--untagged", is_flag=True, help="Consider untagged artifacts too.")
@click.option("--cron", help="Run the policy on this schedule (six fields, UTC); '' to stop.")
def add_retention_rule(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    project: str,
    template: str,
    count: int | None,
    repositories: str,
    exclude_repositories: bool,
    tags: str,
    exclude_tags: bool,
    untagged: bool,
    cron: str | None,
) -> None:
    """Add a rule to PROJECT's policy (creating the policy when it has none)."""
    from dockyard.projects.retention import PolicyInfo, Rule

    if (template == "always") != (count is None):
        raise click.BadParameter("--count is required, except for --template always")
    rule = Rule(
        template=template,  # type: ignore[arg-type]
        count=count or 0,
        repository_pattern=repositories,
        repository_decoration="repoExcludes" if exclude_repositories else "repoMatches",
        tag_pattern=tags,
        tag_decoration="excludes" if exclude_tags else "matches",
        untagged=untagged,
    )

    async def added(registry: Registry) -> PolicyInfo:
        found = await registry.projects.get(project)
        policy = await registry.retention.of_project(found.id)
        if policy is None:
            return await registry.retention.create(found.id, [rule], cron or "")
        schedule = policy.cron if cron is None else cron
        return await registry.retention.update(policy.id, [*policy.rules, rule], schedule)

    policy = _on_registry(config, data_dir, database_url, added)
    click.echo(f"policy {policy.id} of project {project} has {len(policy.rules)} rules")


@retention.command("delete")
@settings_options
@click.argument("project")
def delete_retention(
    config: str | None, data_dir: Path | None, database_url: str | None, project: str
) -> None:
    """Delete PROJECT's policy, with its schedule (its runs' history stays)."""

    async def removed(registry: Registry) -> None:
        policy = await registry.retention.of_project((await registry.projects.get(project)).id)
        if policy is None:
            raise click.ClickException(f"project {project} has no retention policy")
        await registry.retention.delete(policy.id)

    _on_registry(config, data_dir, database_url, removed)
    click.echo(f"deleted the retention policy of project {project}")


# The commands of other modules, registered on ``main`` as they are imported.
from dockyard.cli import scanning as _scanning  # noqa: E402, F401
