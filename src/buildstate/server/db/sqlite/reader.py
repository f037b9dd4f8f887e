"""The event loop's own SQLite connection, for lookups."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from buildstate.server.db.backend import SESSION_OPTIONS, T, Unit
from buildstate.server.db.prepared import Driver


class LoopReader:
    """The event loop's own SQLite connection, for :meth:`Database.lookup`.

    Lookups run on the loop thread one at a time, so one connection, checked out once,
    serves them all; each lookup is one read transaction on it, with a session of its
    own. That saves the pool check-out and reset of a session per request.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._driver: Driver | None = None

    def run(self, fn: Unit[T]) -> T:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self._connection = self._engine.connect()
            self._driver = Driver(
                connection, connection.connection.driver_connection, connection.dialect
            )
        with connection.begin(), Session(bind=connection, **SESSION_OPTIONS) as session:
            session.info["driver"] = self._driver  # what driver_of would look up
            return fn(session)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
