"""``dockyard vulndb``, ``dockyard scanner`` and ``dockyard scan``: the advisory database,
the built-in scanner on a port of its own, and scanning an artifact from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockyard.cli import _on_registry, _run_job, _settings, main, settings_options

if TYPE_CHECKING:
    from dockyard.jobs.queue import JobInfo
    from dockyard.registry import Registry
    from dockyard.scanning.vulndb import DBVersion, ImportResult


@main.group()
def vulndb() -> None:
    """The advisory database the built-in scanner matches against (OSV records)."""


@vulndb.command("import")
@settings_options
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_advisories(
    config: str | None, data_dir: Path | None, database_url: str | None, paths: tuple[Path, ...]
) -> None:
    """Import OSV advisories: osv.dev's per-ecosystem all.zip dumps, single JSON records,
    or directories of them. Only records newer than those held are written; withdrawn
    ones are removed. Scans need no network: download the dumps, then import them here."""
    from tqdm import tqdm

    from dockyard.scanning.osv.errors import OsvError

    async def work(registry: Registry) -> ImportResult:
        with tqdm(desc="importing advisories", unit=" records", dynamic_ncols=True) as bar:

            def progress(done: int, total: int) -> None:
                if bar.total != total:
                    bar.reset(total=total)
                bar.n = done
                bar.refresh()

            return await registry.vulndb.import_paths(list(paths), progress)

    try:
        result = _on_registry(config, data_dir, database_url, work)
    except OsvError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"read {result.records} records: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.withdrawn} withdrawn, "
        f"{result.skipped} of other ecosystems, {result.invalid} invalid"
    )
    for error in result.errors:
        click.echo(f"  invalid: {error}", err=True)


@vulndb.command("status")
@settings_options
def vulndb_status(config: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """How many advisories are held, the newest one's date, and the last import."""

    async def work(registry: Registry) -> DBVersion:
        return await registry.vulndb.version()

    version = _on_registry(config, data_dir, database_url, work)
    click.echo(f"advisories: {version.advisories}")
    click.echo(f"newest advisory modified: {version.modified or 'never'}")
    click.echo(f"last import: {version.imported_at or 'never'}")


@main.command()
@settings_options
@click.option("--host", help="Address to listen on (default: scanning.scanner_host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: scanning.scanner_port, 8085).")
def scanner(
    config: str | None,
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
) -> None:
    """Serve the built-in scanner through the scanner-adapter API on a port of its own,
    for any registry (Harbor included) to register. It reads the advisory database of
    these settings and pulls images from the registry each scan request names."""
    import asyncio

    import httpx
    import uvicorn

    from dockyard.db import open_database
    from dockyard.db.migrate import upgrade
    from dockyard.scanning.adapter import AdapterSettings, BuiltinScanner, adapter_app
    from dockyard.scanning.vulndb import VulnDB

    settings = _settings(config, data_dir, database_url)
    scanning = settings.scanning
    host = host or scanning.scanner_host
    port = scanning.scanner_port if port is None else port
    key = scanning.api_key.get_secret_value() if scanning.api_key else ""
    if not key and host not in ("127.0.0.1", "::1", "localhost"):
        raise click.ClickException(
            "set scanning.api_key (DOCKYARD_SCANNING__API_KEY) to listen beyond loopback"
        )
    if settings.database.auto_migrate:
        upgrade(settings.database_url)
    db = open_database(settings.database_url)
    builtin = BuiltinScanner(
        VulnDB(db),
        AdapterSettings(
            max_image_bytes=scanning.max_image_bytes,
            concurrency=scanning.concurrency,
            api_key=key,
            work_dir=scanning.work_dir,
        ),
        lambda: httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)),
    )
    click.echo(f"dockyard scanner listening on http://{host}:{port}/api/v1")
    server = uvicorn.Server(
        uvicorn.Config(adapter_app(builtin), host=host, port=port, log_level=settings.log_level)
    )

    async def run() -> None:
        try:
            await server.serve()
        finally:
            await builtin.close()
            await db.dispose()

    asyncio.run(run())


@main.command()
@settings_options
@click.argument("artifact")
@click.option("--sbom", is_flag=True, help="Also make an SBOM and attach it to the image.")
def scan(
    config: str | None, data_dir: Path | None, database_url: str | None, artifact: str, sbom: bool
) -> None:
    """Scan ARTIFACT (project/repository:tag or @digest) with its project's scanner, with a
    progress bar, and print what was found."""
    from dockyard.events.services import Actor

    name, reference = _split(artifact)

    async def work(registry: Registry) -> list[JobInfo]:
        job_ids = await registry.scans.request(name, reference, Actor("cli"), sbom=sbom)
        return [await _run_job(registry, await registry.jobs.get(i)) for i in job_ids]

    failed = False
    for job in _on_registry(config, data_dir, database_url, work):
        result: dict[str, Any] = job.result if isinstance(job.result, dict) else {}
        if job.status != "succeeded" or "error" in result:
            failed = True
            click.echo(f"scan {job.id}: {result.get('error') or job.error or job.status}", err=True)
        else:
            line = (
                f"scan {job.id}: {result.get('total', 0)} vulnerabilities, "
                f"worst {result.get('severity')}"
            )
            if result.get("sbom"):
                line += f"; SBOM {result['sbom']}"
            click.echo(line)
    if failed:
        raise click.ClickException("a scan failed")


def _split(artifact: str) -> tuple[str, str]:
    if "@" in artifact:
        name, _, reference = artifact.partition("@")
    else:
        name, _, reference = artifact.rpartition(":")
        if not name or "/" in reference:
            name, reference = artifact, "latest"
    return name, reference
