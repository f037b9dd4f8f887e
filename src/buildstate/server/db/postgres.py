"""PostgreSQL: the backend (a thread pool on a connection pool) and its SQL for the
statements that differ (see :mod:`buildstate.server.db.sql`).

Every unit runs in a thread pool on one pooled connection; the database orders concurrent
writers itself. A write unit is one transaction. A read unit runs in autocommit: under
PostgreSQL's READ COMMITTED each statement sees its own snapshot, in a transaction or not,
so ``BEGIN`` and ``ROLLBACK`` would only add round trips to the one or two statements of a
typical read. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.expression import Executable

from buildstate.server.db.backend import SESSION_OPTIONS, T, Unit, reading, writing

POSTGRES_POOL = 10
PING_AFTER_IDLE = 10.0  # seconds a pooled PostgreSQL connection rests before it is checked


class PostgresBackend:
    """Units of work in a thread pool, each on a connection of the pool (see module doc)."""

    def __init__(self, url: URL) -> None:
        self.writer = create_engine(
            url,
            pool_size=POSTGRES_POOL,
            max_overflow=0,
            pool_timeout=30,
            # jsonb keeps a number as a decimal and writes 1e300 back as its 301 digits,
            # which the standard library reads as an integer no JSON encoder of ours
            # takes; orjson reads an integer beyond 64 bits as the float it was.
            json_deserializer=orjson.loads,
        )
        _ping_after_idle(self.writer, PING_AFTER_IDLE)
        # The same pool: switching a psycopg connection to autocommit and back is local.
        self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")
        self._threads = ThreadPoolExecutor(POSTGRES_POOL, thread_name_prefix="buildstate-db")
        self._read_sessions = sessionmaker(self.reader, **SESSION_OPTIONS)
        self._write_sessions = sessionmaker(self.writer, **SESSION_OPTIONS)

    async def read(self, fn: Unit[T]) -> T:
        unit = reading(self._read_sessions, fn)
        return await asyncio.get_running_loop().run_in_executor(self._threads, unit)

    # A lookup is a network round trip like any read: the thread pool too.
    lookup = read

    async def write(self, fn: Unit[T]) -> T:
        unit = writing(self._write_sessions, fn)
        return await asyncio.get_running_loop().run_in_executor(self._threads, unit)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self.writer.dispose()  # the reader shares its pool


def _ping_after_idle(engine: Engine, idle: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, only for a connection that rested ``idle`` seconds
    in the pool: the server may have restarted, or a firewall dropped the idle socket,
    meanwhile. A connection back from work a moment ago is used as it is, which saves a
    round trip on every unit under load; should the server have gone in that moment,
    the unit fails (the request gets 503 with ``Retry-After``, see ``errors``) and the
    pool reconnects every connection older than it: a connection invalidated because the
    server went away marks the moment, and a connection made before it is replaced at its
    next check-out (what SQLAlchemy does for its own statements; ours run on the driver).
    """
    lost = [0.0]  # when a connection was last found cut off from the server

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["connected"] = time.monotonic()

    @event.listens_for(engine, "invalidate")
    def _lost(_dbapi_connection: Any, _record: Any, exc: BaseException | None) -> None:
        if exc is not None:  # an error, not a soft invalidation
            lost[0] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("connected", lost[0]) < lost[0]:
            raise DisconnectionError("connected before the server was lost; reconnecting")
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return  # new, or back from work a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool replaces it
            raise DisconnectionError(f"a pooled connection no longer answers: {exc}") from exc


class PostgresSql:
    name = "postgresql"

    def json_object(self, fields: Mapping[str, str]) -> str:
        pairs = ", ".join(f"'{name}', {expression}" for name, expression in fields.items())
        return f"json_build_object({pairs})::text"

    def json_or_empty(self, column: str) -> str:
        return f"coalesce({column}, '{{}}'::jsonb)"

    def api_time(self, column: str) -> str:
        text = f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return f"replace({text}, '.000000', '') || 'Z'"

    def seconds_between(self, start: str, end: str) -> str:
        # extract(epoch …) of an interval is an exact numeric: the microseconds are exact
        # and the steps are integer ones.
        micros = f"(extract(epoch FROM ({end}) - {start}) * 1000000)::bigint"
        seconds = f"(greatest(0, {micros}) + 500) / 1000 / 1000.0::float8"
        # greatest() skips a NULL, where SQLite's max() returns it: no start or end, no
        # duration.
        return f"CASE WHEN {start} IS NULL OR ({end}) IS NULL THEN NULL ELSE {seconds} END"

    def byte_length(self, column: str) -> str:
        return f"coalesce(octet_length({column}), 0)"

    def json_bytes(self, column: str) -> str:
        # jsonb's text is what json_or_empty writes (numbers in full, spaces and all).
        return f"coalesce(octet_length({column}::text), 2)"

    def total_before(
        self, value: ColumnElement[int], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[int]:
        # The subquery's rows come in this order already: no second sort.
        total: ColumnElement[int] = func.sum(value).over(order_by=order_by, rows=(None, -1))
        return total

    def joined_in_order(
        self, column: ColumnElement[Any], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[str]:
        joined: ColumnElement[str] = func.string_agg(
            column, aggregate_order_by(literal_column("','"), *order_by)
        )
        return joined

    def upsert_counter(self, table: Table, keys: Sequence[str], counter: str) -> Executable:
        values: dict[str, Any] = {key: bindparam(key) for key in keys}
        values[counter] = bindparam("delta")
        return (
            insert(table)
            .values(values)
            .on_conflict_do_update(
                index_elements=[table.c[key] for key in keys],
                set_={counter: table.c[counter] + bindparam("delta")},
            )
        )


POSTGRES_SQL = PostgresSql()
