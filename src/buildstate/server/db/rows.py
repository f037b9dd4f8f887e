"""Writing mapped objects with prepared statements, outside the ORM's unit of work.

The hot write paths (state reports, new builds, audit records) use model objects as plain
records, made by :func:`record` and never added to the session: these helpers insert and
update them with one :class:`~buildstate.server.db.prepared.Prepared` statement each. That
skips the unit of work's flush, several times the cost of the statement itself, and keeps
such objects out of the identity map, so that the writes the SQLite writer commits
together in one transaction never see each other's stale objects.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.instrumentation import manager_of_class

from buildstate.server.db.base import Base
from buildstate.server.db.prepared import Prepared

M = TypeVar("M", bound=Base)


def record(model: type[M], **values: Any) -> M:
    """A ``model`` object holding ``values``, made the way the ORM makes the objects it
    loads: without the constructor, whose attribute events cost ten times as much (see
    bench/RESULTS.md). For :func:`insert_row` and :func:`update_row`, not for a session."""
    unknown = values.keys() - _column_of(model.__mapper__).keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column attribute {', '.join(sorted(unknown))}")
    obj: M = manager_of_class(model).new_instance()
    vars(obj).update(values)
    return obj


@cache
def _names(mapper: Mapper[Any]) -> tuple[tuple[str, str], ...]:
    """(attribute name, column name) of each column attribute."""
    return tuple((attr.key, attr.columns[0].key) for attr in mapper.column_attrs)


@cache
def _column_of(mapper: Mapper[Any]) -> dict[str, str]:
    """Column name by attribute name."""
    return dict(_names(mapper))


def _columns(obj: Base) -> dict[str, Any]:
    """The column values set on ``obj``, by column name."""
    values = vars(obj)
    return {column: values[attr] for attr, column in _names(type(obj).__mapper__) if attr in values}


@cache
def _key(mapper: Mapper[Any]) -> tuple[tuple[str, Any], ...]:
    """(attribute name, column) of each primary-key column."""
    return tuple((mapper.get_property_by_column(c).key, c) for c in mapper.primary_key)


@cache
def _insert(mapper: Mapper[Any]) -> tuple[Prepared, Prepared | None, str | None]:
    """INSERT for the mapper's table, and the variant returning a generated integer key
    with that key's name."""
    statement = insert(cast(Table, mapper.local_table))
    for name, column in _key(mapper):
        if column.autoincrement is True:
            return Prepared(statement), Prepared(statement.returning(column)), name
    return Prepared(statement), None, None


@cache
def _update(mapper: Mapper[Any]) -> Prepared:
    """UPDATE of one row by primary key (bound as ``pk_<column>``)."""
    where = [column == bindparam(f"pk_{column.key}") for _, column in _key(mapper)]
    return Prepared(update(cast(Table, mapper.local_table)).where(*where))


# A record is in no session, so these helpers read and set its attributes in its
# ``__dict__`` directly: the ORM's attribute events would track changes nobody flushes.


def insert_row(session: Session, obj: Base, *, key: bool = True) -> None:
    """INSERT ``obj``; a generated integer primary key is set on it, unless ``key`` is
    false (nobody needs it: the INSERT then returns nothing, which costs less)."""
    plain, returning, generated = _insert(type(obj).__mapper__)
    values = _columns(obj)
    state = vars(obj)
    if key and returning is not None and generated is not None and state.get(generated) is None:
        state[generated] = returning.scalar(session, values)
    else:
        plain.execute(session, values)


def update_row(session: Session, obj: Base, **changes: Any) -> None:
    """UPDATE ``obj``'s row with ``changes`` (by attribute name) and set them on ``obj``."""
    mapper = type(obj).__mapper__
    state, column_of = vars(obj), _column_of(mapper)
    unknown = changes.keys() - column_of.keys()
    if unknown:
        raise TypeError(
            f"{type(obj).__name__} has no column attribute {', '.join(sorted(unknown))}"
        )
    values = {f"pk_{column.key}": state[name] for name, column in _key(mapper)}
    values.update({column_of[name]: value for name, value in changes.items()})
    _update(mapper).execute(session, values)
    state.update(changes)
