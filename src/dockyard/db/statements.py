"""Statements whose SQL differs between SQLite and PostgreSQL, written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, literal, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import Insert

from dockyard.db.base import Base
from dockyard.db.engine import Conn


def _insert(conn: Conn, model: type[Base]) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignore(conn: Conn, model: type[Base], index_elements: Sequence[str]) -> Insert:
    """INSERT that does nothing when a row with the same key exists."""
    stmt = _insert(conn, model)
    result: Insert = stmt.on_conflict_do_nothing(index_elements=list(index_elements))
    return result


def upsert(
    conn: Conn, model: type[Base], index_elements: Sequence[str], update: Sequence[str]
) -> Insert:
    """INSERT that updates the ``update`` columns from the new row on a key conflict."""
    stmt = _insert(conn, model)
    result: Insert = stmt.on_conflict_do_update(
        index_elements=list(index_elements),
        set_={name: stmt.excluded[name] for name in update},
    )
    return result


def lexical_key(conn: Conn, column: InstrumentedAttribute[str]) -> tuple[ColumnElement[str], ...]:
    """The spec's lexical order: case-insensitive, then byte order to keep it total.

    ORDER BY the returned columns; page with ``tuple_(*key) > (lower(last), last)``.
    """
    exact = column.collate("C") if conn.dialect.name == "postgresql" else column.expression
    return func.lower(exact), exact


def after(conn: Conn, column: InstrumentedAttribute[str], last: str) -> ColumnElement[bool]:
    """Rows that come after ``last`` in :func:`lexical_key` order."""
    return tuple_(*lexical_key(conn, column)) > tuple_(literal(last.lower()), literal(last))
