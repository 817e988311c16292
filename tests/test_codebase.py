"""The tools that keep the code healthy, run as tests so that CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, create_engine

from dockyard.db.migrate import upgrade
from dockyard.db.models import Base

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


# Neither side can reflect expression indexes; the test checks that one by name below.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_models_and_migrations_agree(tmp_path: Path) -> None:
    database = tmp_path / "schema.db"
    upgrade(f"sqlite+aiosqlite:///{database}")
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        indexes = set(
            connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
            .scalars()
            .all()
        )
    engine.dispose()
    expression_indexes = {
        index.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if not all(isinstance(expression, Column) for expression in index.expressions)
    }
    assert expression_indexes
    assert expression_indexes <= indexes
    assert differences == [], "run: alembic revision --autogenerate (see docs/development.md)"


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    result = _run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
