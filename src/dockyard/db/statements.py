"""Statements whose SQL differs between SQLite and PostgreSQL, written once."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import Insert

from dockyard.db.base import Base
from dockyard.db.engine import Conn


def insert_ignore(conn: Conn, model: type[Base], index_elements: Sequence[str]) -> Insert:
    """INSERT that does nothing when a row with the same key exists; execute it with the
    row's values as parameters."""
    return _insert_ignore(conn.dialect.name, model, tuple(index_elements))


def upsert(
    conn: Conn,
    model: type[Base],
    index_elements: Sequence[str],
    update: Sequence[str],
    returning: Sequence[str] = (),
) -> Insert:
    """INSERT that updates the ``update`` columns from the new row on a key conflict;
    execute it with the row's values as parameters. ``returning``: the columns of the
    row inserted or updated to return."""
    return _upsert(conn.dialect.name, model, tuple(index_elements), tuple(update), tuple(returning))


# Built once per dialect and shape: building an INSERT .. ON CONFLICT cost more than
# running it (a third of a manifest PUT's time, py-spy under the bench's PUT load).
@functools.cache
def _insert_ignore(dialect: str, model: type[Base], index_elements: tuple[str, ...]) -> Insert:
    stmt = _insert(dialect, model)
    result: Insert = stmt.on_conflict_do_nothing(index_elements=list(index_elements))
    return result


@functools.cache
def _upsert(
    dialect: str,
    model: type[Base],
    index_elements: tuple[str, ...],
    update: tuple[str, ...],
    returning: tuple[str, ...],
) -> Insert:
    stmt = _insert(dialect, model)
    result: Insert = stmt.on_conflict_do_update(
        index_elements=list(index_elements),
        set_={name: stmt.excluded[name] for name in update},
    )
    if returning:
        result = result.returning(*(stmt.table.c[name] for name in returning))
    return result


def _insert(dialect: str, model: type[Base]) -> Any:
    table = cast(Table, model.__table__)
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def lexical_key(conn: Conn, column: InstrumentedAttribute[str]) -> tuple[ColumnElement[str], ...]:
    """The spec's lexical order: case-insensitive, then byte order to keep it total.

    ORDER BY the returned columns; page with ``tuple_(*key) > (lower(last), last)``.
    """
    exact = column.collate("C") if conn.dialect.name == "postgresql" else column.expression
    return func.lower(exact), exact


def after(conn: Conn, column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Rows after the bound ``last`` in :func:`lexical_key` order (bind ``last`` and
    ``last_lower``)."""
    return tuple_(*lexical_key(conn, column)) > tuple_(bindparam("last_lower"), bindparam("last"))


# Stands for "no limit" in a LIMIT bound as a parameter, on SQLite as on PostgreSQL.
_NO_LIMIT = 2**62


class LexicalPage:
    """``SELECT column ... ORDER BY`` the lexical key, ``LIMIT :limit``, optionally after
    ``:last``: the pagination of tags/list and _catalog, built once per dialect."""

    def __init__(self, column: InstrumentedAttribute[str], *criteria: ColumnElement[bool]) -> None:
        self.column = column
        self.criteria = criteria
        self._built: dict[tuple[str, bool], Select[Any]] = {}

    def statement(self, conn: Conn, *, after_last: bool) -> Select[Any]:
        key = (conn.dialect.name, after_last)
        built = self._built.get(key)
        if built is None:
            built = select(self.column).where(*self.criteria)
            if after_last:
                built = built.where(after(conn, self.column))
            # SQLite renders a bound LIMIT with an OFFSET; bind both by name.
            built = (
                built.order_by(*lexical_key(conn, self.column))
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            )
            self._built[key] = built
        return built

    async def fetch(
        self, conn: Conn, last: str | None, limit: int | None, **parameters: Any
    ) -> list[str]:
        values = {**parameters, "limit": _NO_LIMIT if limit is None else limit, "offset": 0}
        if last:
            values.update(last=last, last_lower=last.lower())
        return await conn.column(self.statement(conn, after_last=bool(last)), values)
