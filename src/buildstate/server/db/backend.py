"""What a database backend gives :class:`~buildstate.server.db.database.Database`.

A backend runs units of work, ``fn(session)``, the way its database wants them run:
:class:`~buildstate.server.db.sqlite.backend.SqliteBackend` (one writer thread committing
groups, reads alongside) or :class:`~buildstate.server.db.postgres.PostgresBackend` (a
thread pool on a connection pool). See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
Unit = Callable[[Session], T]

# Sessions of units of work: objects stay readable after the commit, and nothing is
# flushed behind the unit's back.
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False, "autoflush": False}


class Backend(Protocol):
    """The few things the :class:`~buildstate.server.db.database.Database` facade needs."""

    @property
    def writer(self) -> Engine:
        """The engine writes run on."""
        ...

    @property
    def reader(self) -> Engine:
        """The engine reads run on (it may share the writer's pool)."""
        ...

    async def read(self, fn: Unit[T]) -> T:
        """``fn(session)`` in a read transaction on a reader thread; its result."""
        ...

    async def lookup(self, fn: Unit[T]) -> T:
        """:meth:`read` for a read of bounded cost (rows found by key or index, never a
        scan), run wherever it costs least."""
        ...

    async def write(self, fn: Unit[T]) -> T:
        """``fn(session)`` in a write transaction; returns once it has committed. If
        ``fn`` raises, nothing it did is kept."""
        ...

    def close(self) -> None:
        """Finish queued writes, then close every connection and thread (blocking)."""
        ...


def reading(sessions: sessionmaker[Session], fn: Unit[T]) -> Callable[[], T]:
    """``fn`` as a read unit for a thread: a session of its own, closed after it."""

    def unit() -> T:
        with sessions() as session:
            return fn(session)  # closing ends the read transaction, keeps what it read

    return unit


def writing(sessions: sessionmaker[Session], fn: Unit[T]) -> Callable[[], T]:
    """``fn`` as a write unit for a thread: one transaction, committed if it returns."""

    def unit() -> T:
        with sessions() as session, session.begin():
            return fn(session)

    return unit
