"""Engines and session factories for the configured database.

SQLite gets two engines: one writer connection that opens every transaction with
``BEGIN IMMEDIATE`` (so concurrent writers queue instead of failing with "database is
locked" half-way through), and a small pool of readers that WAL lets run alongside it.
PostgreSQL uses one pooled engine for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from buildstate.server.settings import Settings

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class UnsupportedDatabase(ValueError):
    pass


def async_url(database_url: str) -> URL:
    """``sqlite:///x.db`` / ``postgresql://…`` → the async driver URL SQLAlchemy needs."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as exc:
        raise UnsupportedDatabase(
            f"DATABASE_URL is not a valid database URL ({exc}); use sqlite:///path.db or "
            "postgresql://user:password@host:port/dbname"
        ) from None
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise UnsupportedDatabase(
            f"DATABASE_URL scheme {url.drivername!r} is not supported: use sqlite:///path.db "
            "or postgresql://user:password@host:port/dbname"
        )
    return url.set(drivername=_ASYNC_DRIVERS[backend])


def sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


def _configure_sqlite(engine: AsyncEngine, *, synchronous: str, immediate: bool) -> None:
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (aiosqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


@dataclass
class Database:
    """The engines of one configured database and the session factories over them."""

    url: URL
    writer: AsyncEngine
    reader: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_file(self) -> Path | None:
        return sqlite_path(self.url)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def create_database(settings: Settings) -> Database:
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise UnsupportedDatabase("an in-memory SQLite database cannot be shared: give a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        reader = create_async_engine(url, pool_size=8, max_overflow=0, pool_timeout=60)
        _configure_sqlite(writer, synchronous=settings.sqlite_synchronous, immediate=True)
        _configure_sqlite(reader, synchronous=settings.sqlite_synchronous, immediate=False)
    else:
        writer = reader = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=30
        )
    return Database(
        url=url,
        writer=writer,
        reader=reader,
        write_sessions=async_sessionmaker(writer, expire_on_commit=False, autoflush=False),
        read_sessions=async_sessionmaker(reader, expire_on_commit=False, autoflush=False),
    )
