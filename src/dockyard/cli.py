"""The command line: ``dockyard serve``, ``dockyard migrate``, ``dockyard artifacts``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click

from dockyard.settings import Settings, load_settings

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
    from dockyard.errors import DockyardError
    from dockyard.registry import Registry

    settings = _settings(config, data_dir, database_url)
    _migrate_if_allowed(settings)

    async def run() -> None:
        registry = Registry.build(settings)
        try:
            for artifact in await registry.manifests.artifacts(repository, untagged_only=untagged):
                tags = ",".join(artifact.tags) or "<untagged>"
                click.echo(f"{artifact.digest}\t{artifact.kind}\t{artifact.size}\t{tags}")
        finally:
            await registry.close()

    try:
        asyncio.run(run())
    except DockyardError as exc:
        raise click.ClickException(exc.message) from None
