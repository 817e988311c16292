"""Upgrading a database that holds data: from the previous migration head to the newest, through
``dockyard migrate``, on SQLite and on PostgreSQL.

"Previous" is the revision just before the head, whatever the head is, so this test
checks each new migration against the schema it starts from. The rows are written
at that revision through the tables as they are then (reflected), with a filler for
any required column this test does not know; after the upgrade every value written
must read back the same, and every table of the models must exist.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from dockyard.cli import main
from dockyard.db import open_database
from dockyard.db.migrate import alembic_config, upgrade
from dockyard.db.models import Base
from dockyard.jobs.queue import JobQueue
from dockyard.projects.projects import ProjectService
from dockyard.settings import JobSettings
from tests.postgres import PostgresServer

AT = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
LAYER = "sha256:" + "a" * 64
CONFIG = "sha256:" + "b" * 64
MANIFEST = "sha256:" + "c" * 64

# What a registry at the previous head may hold: accounts, a project with a member and a
# robot, an image with its blobs, a tag, an open upload, audit events.
ROWS: dict[str, list[dict[str, Any]]] = {
    "users": [
        {
            "id": 10,
            "username": "alice",
            "email": "alice@example.com",
            "realname": "Alice",
            "comment": "",
            "source": "db",
            "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            "admin": False,
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "user_groups": [
        {"id": 5, "name": "devs", "kind": "ldap", "external_id": "cn=devs", "created_at": AT}
    ],
    "group_memberships": [{"user_id": 10, "group_id": 5}],
    "signing_keys": [{"id": 3, "name": "token", "private_pem": "-----PEM-----", "created_at": AT}],
    "projects": [
        {
            "id": 20,
            "name": "team",
            "public": False,
            "owner_id": 10,
            "metadata_json": '{"auto_scan": "true"}',
            "storage_limit": 10_000_000_000,
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "project_members": [
        {
            "id": 30,
            "project_id": 20,
            "entity_type": "u",
            "entity_id": 10,
            "role": 2,
            "created_at": AT,
        }
    ],
    "robots": [
        {
            "id": 80,
            "name": "robot$team+ci",
            "description": "CI pushes",
            "level": "project",
            "project_id": 20,
            "secret_hash": "hash",
            "disabled": False,
            "expires_at": AT + timedelta(days=30),
            "creator": "alice",
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "robot_permissions": [
        {"id": 90, "robot_id": 80, "project_id": 20, "actions": '["repository:pull"]'}
    ],
    "repositories": [{"id": 40, "project_id": 20, "name": "team/app", "created_at": AT}],
    "blobs": [
        {"digest": LAYER, "size": 3_000_000_000, "created_at": AT},
        {"digest": CONFIG, "size": 120, "created_at": AT},
    ],
    "repository_blobs": [
        {"repository_id": 40, "digest": LAYER, "created_at": AT},
        {"repository_id": 40, "digest": CONFIG, "created_at": AT},
    ],
    "manifests": [
        {
            "id": 50,
            "repository_id": 40,
            "digest": MANIFEST,
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "artifact_type": None,
            "kind": "image",
            "subject_digest": None,
            "annotations": '{"org.opencontainers.image.title": "app"}',
            "size": 400,
            "content": b'{"schemaVersion":2}\x00\xff',
            "created_at": AT,
            "pulled_at": AT + timedelta(hours=1),
        }
    ],
    "manifest_references": [
        {"manifest_id": 50, "digest": LAYER, "kind": "layer"},
        {"manifest_id": 50, "digest": CONFIG, "kind": "config"},
    ],
    "tags": [{"id": 60, "repository_id": 40, "name": "v1", "manifest_id": 50, "updated_at": AT}],
    "upload_sessions": [
        {
            "id": "f" * 32,
            "repository_id": 40,
            "size": 1234,
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "events": [
        {
            "id": 70,
            "occurred_at": AT,
            "operation": "push",
            "resource_type": "artifact",
            "resource": "team/app:v1",
            "project_id": 20,
            "operator": "alice",
            "client_ip": "10.0.0.7",
            "detail": '{"digest": "sha256:c"}',
        }
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without any schema."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return await server.new_database("upgrade")
    return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"


def revisions(url: str) -> tuple[str, str]:
    """(the revision before the head, the head)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str), "the head has one parent"
    return previous, head


def _filler(column: Column[Any]) -> Any:
    """A value for a required column that a later migration added and this test does not
    know, by its type."""
    if isinstance(column.type, Boolean):
        return False
    if isinstance(column.type, Integer):
        return 0
    if isinstance(column.type, DateTime):
        return AT
    if isinstance(column.type, LargeBinary):
        return b""
    if isinstance(column.type, String):
        return ""
    raise AssertionError(f"no filler for {column.table.name}.{column.name} ({column.type})")


def _complete(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    complete = {name: value for name, value in row.items() if name in table.columns}
    for column in table.columns:
        required = not column.nullable and column.server_default is None
        if column.name not in complete and required and not column.primary_key:
            complete[column.name] = _filler(column)
    return complete


def _comparable(value: Any) -> Any:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _write(connection: Connection) -> None:
    """Insert ROWS into those of their tables that exist at this revision."""
    metadata = MetaData()
    metadata.reflect(connection)
    for name, rows in ROWS.items():
        if name in metadata.tables:
            table = metadata.tables[name]
            connection.execute(insert(table), [_complete(table, row) for row in rows])


Snapshot = dict[str, list[dict[str, Any]]]


def _snapshot(connection: Connection, like: Snapshot | None = None) -> Snapshot:
    """Every row of every table (or of the tables and columns of ``like``), in key order."""
    metadata = MetaData()
    metadata.reflect(connection)
    found: Snapshot = {}
    for name, table in metadata.tables.items():
        if name == "alembic_version" or (like is not None and name not in like):
            continue
        columns = list(table.columns)
        if like is not None and like[name]:
            columns = [table.columns[c] for c in like[name][0]]
        result = connection.execute(select(*columns).order_by(*table.primary_key.columns))
        found[name] = [{k: _comparable(v) for k, v in row.items()} for row in result.mappings()]
    return found


async def _run(url: str, work: Any) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


# Neither SQLite nor this reflection reads expression indexes; the schema test checks them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_upgrade_from_the_previous_head_keeps_the_data(
    fresh_url: str, tmp_path: Path
) -> None:
    previous, head = revisions(fresh_url)
    await asyncio.to_thread(upgrade, fresh_url, previous)
    await _run(fresh_url, _write)
    before: Snapshot = await _run(fresh_url, _snapshot)
    for name in ("users", "projects", "repositories", "blobs", "manifests", "tags", "events"):
        assert len(before[name]) >= len(ROWS[name]), name
    assert {"id": 20, "name": "team"}.items() <= before["projects"][-1].items()

    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["migrate", "--database-url", fresh_url, "--data-dir", str(tmp_path / "data")],
    )
    assert result.exit_code == 0, result.output
    assert "newest schema" in result.output

    def check(connection: Connection) -> None:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == head
        assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())

    await _run(fresh_url, check)
    after = await _run(fresh_url, lambda connection: _snapshot(connection, like=before))
    assert after == before

    # The services work on the upgraded database, old rows and new tables alike.
    db = open_database(fresh_url)
    try:
        team = await ProjectService(db).get("team")
        assert (team.id, team.owner_id, team.repository_count) == (20, 10, 1)
        queue = JobQueue(db, JobSettings())
        job_id = await queue.enqueue("test.after-upgrade")
        claim = await queue.claim("w")
        assert claim is not None
        assert claim.job.id == job_id
    finally:
        await db.dispose()
