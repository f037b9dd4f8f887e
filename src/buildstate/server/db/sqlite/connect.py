"""Where the SQLite file is, and how every connection to it is set up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL


def sqlite_path(url: URL) -> Path | None:
    """The database file ``url`` names; ``None`` for another database or in memory."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


def configure(engine: Engine, *, synchronous: str, immediate: bool) -> None:
    """Pragmas on each new connection of ``engine`` (write-ahead log, ``synchronous``,
    foreign keys, busy timeout), and transactions that we begin ourselves:
    ``BEGIN IMMEDIATE`` for the writer (``immediate``), a deferred ``BEGIN`` for readers."""
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves: pysqlite's implicit BEGIN is deferred and late.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # On the driver: the same statement through SQLAlchemy costs ten times as much.
        connection.connection.driver_connection.execute(begin)
