"""The configured database, and the one way requests use it: a unit of work.

A request's database work is one synchronous function, ``fn(session)``, run on a database
thread in one hop from the event loop (:meth:`Database.read`, :meth:`Database.write`), or
for a bounded SQLite read, on the event loop itself (:meth:`Database.lookup`). Running it
as a unit keeps the event loop free of per-statement hand-offs, which cost far more than
the statements themselves, and keeps a transaction as short as its statements.

How a unit runs is the backend's business: :mod:`buildstate.server.db.sqlite` (group
commit on one writer thread) or :mod:`buildstate.server.db.postgres` (a thread pool).
The threads, the request path and the write path are drawn in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from buildstate.server.db.backend import Backend, T, Unit
from buildstate.server.db.postgres import PostgresBackend
from buildstate.server.db.sqlite.backend import SqliteBackend
from buildstate.server.db.sqlite.connect import sqlite_path
from buildstate.server.settings import Settings

_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


class UnsupportedDatabase(ValueError):
    pass


def driver_url(database_url: str) -> URL:
    """``sqlite:///x.db`` / ``postgresql://…`` → the URL with the driver we use."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as exc:
        raise UnsupportedDatabase(
            f"DATABASE_URL is not a valid database URL ({exc}); use sqlite:///path.db or "
            "postgresql://user:password@host:port/dbname"
        ) from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise UnsupportedDatabase(
            f"DATABASE_URL scheme {url.drivername!r} is not supported: use sqlite:///path.db "
            "or postgresql://user:password@host:port/dbname"
        )
    return url.set(drivername=_DRIVERS[backend])


class Database:
    """The configured database: its URL, its engines, and the units of work its backend
    runs. Each method hands ``fn`` to the backend and returns the backend's coroutine
    itself, so awaiting it costs no extra step."""

    def __init__(self, url: URL, backend: Backend) -> None:
        self.url = url
        self.backend = backend
        self.writer = backend.writer
        self.reader = backend.reader

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_file(self) -> Path | None:
        return sqlite_path(self.url)

    def read(self, fn: Unit[T]) -> Coroutine[Any, Any, T]:
        """``fn(session)`` in a read transaction on a reader; its result."""
        return self.backend.read(fn)

    def lookup(self, fn: Unit[T]) -> Coroutine[Any, Any, T]:
        """:meth:`read` for a read of bounded cost: rows found by key or index, never a
        scan (one build and its history, a counter, a token). On SQLite it runs right
        here on the event loop: such a read takes a fraction of a millisecond, less than
        the hand-off to a thread and back, and the GIL would serialize it anyway. On
        PostgreSQL it is a network round trip and goes to the thread pool like any read.
        """
        return self.backend.lookup(fn)

    def write(self, fn: Unit[T]) -> Coroutine[Any, Any, T]:
        """``fn(session)`` in a write transaction; returns once it has committed, so a
        caller never acknowledges a write that is not durable. If ``fn`` raises, nothing
        it did is kept."""
        return self.backend.write(fn)

    def close(self) -> None:
        """Finish queued writes, then close every connection (blocking)."""
        self.backend.close()


def create_database(settings: Settings) -> Database:
    url = driver_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise UnsupportedDatabase("an in-memory SQLite database cannot be shared: give a file")
        return Database(url, SqliteBackend(url, path, synchronous=settings.sqlite_synchronous))
    return Database(url, PostgresBackend(url))
