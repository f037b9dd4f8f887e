"""The hot paths' statements, compiled once and run on the driver's own connection.

``Connection.execute`` costs SQLAlchemy several times, in Python, what SQLite takes to run
a statement by primary key (an execution context, parameter and result set-up, events;
see bench/RESULTS.md). A state report runs eight of them. :class:`Prepared` keeps the
statement written in Core, so one definition serves both dialects, compiles it once per
dialect (and per set of inserted columns), and runs the SQL text on the DBAPI connection
of the unit's session, converting parameters and results with the same column types
SQLAlchemy would apply. Transactions stay SQLAlchemy's: these statements run inside the
unit's transaction like any other.

Only statements whose shape is fixed belong here: no ``IN`` lists, no optional clauses.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Driver:
    """A unit of work's connection: SQLAlchemy's, and the DBAPI one under it (``sqlite3``
    or ``psycopg``)."""

    connection: Connection
    dbapi: Any
    dialect: Dialect

    def execute(self, sql: str, params: Any) -> Any:
        """``sql`` on the DBAPI connection; a driver error is raised as SQLAlchemy's
        (``IntegrityError``, ``OperationalError``…), as ``Connection.execute`` would."""
        try:
            return self.dbapi.execute(sql, params)
        except self.dialect.loaded_dbapi.Error as exc:
            lost = self.dialect.is_disconnect(exc, self.dbapi, None)
            if lost:
                self.connection.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                params,
                exc,
                self.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=self.dialect,
            ) from exc


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, _transaction: SessionTransaction) -> None:
    # The next transaction may run on another pooled connection.
    session.info.pop("driver", None)


def driver_of(session: Session) -> Driver:
    """The connection under ``session``'s transaction (looked up once per unit)."""
    driver: Driver | None = session.info.get("driver")
    if driver is None:
        connection = session.connection()
        driver = Driver(connection, connection.connection.driver_connection, connection.dialect)
        session.info["driver"] = driver
    return driver


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order (qmark), or named
    fixed: dict[str, Any]  # values written into the statement (``LIMIT 1``)
    binds: tuple[tuple[str, Processor], ...]  # the parameters that need converting
    defaults: tuple[tuple[str, Any], ...]  # (column, its Python-side default) for columns left out
    row: type[Any] | None  # a named tuple
    results: tuple[tuple[int, Processor], ...]  # (column position, conversion)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        params = {**self.fixed, **values}
        for name, default in self.defaults:
            params[name] = default.arg(None) if default.is_callable else default.arg
        for name, convert in self.binds:
            params[name] = convert(params[name])
        if self.positional is None:
            return params
        return [params[name] for name in self.positional]

    def make_row(self, values: Sequence[Any]) -> Any:
        assert self.row is not None
        if self.results:
            values = list(values)
            for i, convert in self.results:
                values[i] = convert(values[i])
        return self.row._make(values)


def _defaults(compiled: Any) -> tuple[tuple[str, Any], ...]:
    """The Python-side defaults SQLAlchemy would compute for the columns left out."""
    found = [(c, c.default) for c in compiled.insert_prefetch]
    found += [(c, c.onupdate) for c in compiled.update_prefetch]
    for column, default in found:
        if not (default.is_callable or default.is_scalar):
            raise TypeError(f"column {column.key!r} has a default Prepared cannot compute")
    return tuple((column.key, default) for column, default in found)


def _row_type(names: list[str]) -> type[Any]:
    """Rows are named tuples: built in C, read like SQLAlchemy's rows (``row.status``).
    A column without a usable name (an unlabelled ``count(*)``) is read by position."""
    return namedtuple("Row", names, rename=True)


def _compile(statement: Executable, dialect: Dialect, keys: Iterable[str] | None) -> _Compiled:
    column_keys = list(keys) if keys is not None else None
    compiled = statement.compile(dialect=dialect, column_keys=column_keys)  # type: ignore[attr-defined]
    bound = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
    to_driver = {n: b.type.dialect_impl(dialect).bind_processor(dialect) for n, b in bound.items()}
    columns = list(getattr(statement, "exported_columns", ()))
    row = _row_type([c.key for c in columns]) if columns else None
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    return _Compiled(
        sql=compiled.string,
        positional=tuple(compiled.positiontup) if compiled.positional else None,
        fixed={name: bind.effective_value for name, bind in bound.items() if not bind.required},
        binds=tuple((name, p) for name, p in to_driver.items() if p is not None),
        defaults=_defaults(compiled),
        row=row,
        results=results,
    )


class Prepared:
    """One Core statement, run on a unit's :class:`Driver` (see the module doc)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # INSERT and UPDATE set the columns they are given: one compilation per set.
        self._per_columns = bool(getattr(statement, "is_dml", False))
        self._compiled: dict[tuple[str, frozenset[str] | None], _Compiled] = {}

    def _for(self, dialect: Dialect, values: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, frozenset(values) if self._per_columns else None)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self.statement, dialect, key[1])
        return compiled

    def _run(self, session: Session, values: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        driver = driver_of(session)
        compiled = self._for(driver.dialect, values)
        return driver.execute(compiled.sql, compiled.parameters(values)), compiled

    def sql(self, dialect: Dialect, values: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL text and the driver's parameters it runs with ``values`` (for EXPLAIN)."""
        compiled = self._for(dialect, values)
        return compiled.sql, compiled.parameters(values)

    def first(self, session: Session, values: Mapping[str, Any]) -> Any:
        """The first row (a named tuple), or ``None``. For INSERT or UPDATE, ``values``
        are the columns to set (others get their defaults) and the bound parameters."""
        cursor, compiled = self._run(session, values)
        found = cursor.fetchone()
        return None if found is None else compiled.make_row(found)

    def all(self, session: Session, values: Mapping[str, Any]) -> list[Any]:
        cursor, compiled = self._run(session, values)
        return [compiled.make_row(found) for found in cursor.fetchall()]

    def scalar(self, session: Session, values: Mapping[str, Any]) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.first(session, values)
        return None if row is None else row[0]

    def execute(self, session: Session, values: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        cursor, _ = self._run(session, values)
        return int(cursor.rowcount)
