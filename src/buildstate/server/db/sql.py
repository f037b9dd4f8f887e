"""The SQL that differs between SQLite and PostgreSQL, behind one interface.

Feature code says *what* it wants (a JSON object of these fields, a page of rows joined
into one text, a counter to bump) and asks the dialect of its unit's connection how to
write it: ``SQL_DIALECTS[dialect_of(session)]``. Each database's answers live
with its backend (:mod:`buildstate.server.db.sqlite.sql`,
:mod:`buildstate.server.db.postgres`), so no feature module branches on a dialect's name.
The statements they build are compiled once per dialect (see
:class:`~buildstate.server.db.prepared.Prepared`), so asking costs nothing per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table
from sqlalchemy.sql.expression import Executable

from buildstate.server.db.postgres import POSTGRES_SQL
from buildstate.server.db.sqlite.sql import SQLITE_SQL


class SqlDialect(Protocol):
    """How one database writes the statements that differ. Expressions given and
    returned as text are SQL fragments over the columns of the row at hand."""

    name: str  # SQLAlchemy's name of the dialect: "sqlite", "postgresql"

    def json_object(self, fields: Mapping[str, str]) -> str:
        """A JSON object, as text, with these keys and the values of these expressions."""
        ...

    def json_or_empty(self, column: str) -> str:
        """A JSON column's value as JSON (not as a string), ``{}`` where it is NULL."""
        ...

    def api_time(self, column: str) -> str:
        """A stored UTC datetime as the API writes it, ``2026-11-22T06:08:17.708000Z``,
        without the fraction when it is zero."""
        ...

    def seconds_between(self, start: str, end: str) -> str:
        """Seconds from ``start`` to ``end`` (datetimes), in whole milliseconds rounded
        half up, never negative, NULL if either is NULL; computed in integer steps, so
        that it equals ``builds.views._seconds`` exactly."""
        ...

    def byte_length(self, column: str) -> str:
        """The bytes (UTF-8) of a text column, not its characters; 0 where it is NULL."""
        ...

    def json_bytes(self, column: str) -> str:
        """The bytes of ``json_or_empty(column)`` in a JSON text, or a few more."""
        ...

    def total_before(
        self, value: ColumnElement[int], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[int]:
        """A window: the sum of ``value`` over the rows before this one in the order of
        ``order_by`` (NULL for the first), which is also the order of the subquery
        ``value`` comes from."""
        ...

    def joined_in_order(
        self, column: ColumnElement[Any], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[str]:
        """An aggregate: the texts of ``column`` joined with commas, in the order of
        ``order_by``, which is also the order of the subquery ``column`` comes from."""
        ...

    def upsert_counter(self, table: Table, keys: Sequence[str], counter: str) -> Executable:
        """``counter += :delta`` on the row of ``table`` whose ``keys`` columns hold the
        values bound under the same names, or that row inserted with ``counter = :delta``
        if there is none (``keys`` are a unique constraint of ``table``)."""
        ...


# By SQLAlchemy's dialect name, as ``dialect_of(session)`` gives it.
SQL_DIALECTS: dict[str, SqlDialect] = {"sqlite": SQLITE_SQL, "postgresql": POSTGRES_SQL}
