"""The configured database, and the one way requests use it: a unit of work.

A request's database work is one synchronous function, ``fn(session)``, run on a database
thread in one hop from the event loop (:meth:`Database.read`, :meth:`Database.write`), or
for a bounded SQLite read, on the event loop itself (:meth:`Database.lookup`).
Running it as a unit keeps the event loop free of per-statement hand-offs, which cost far
more than the statements themselves, and keeps a transaction as short as its statements.

SQLite: one writer thread owns the single writer connection (``BEGIN IMMEDIATE``). It
takes every write waiting in its queue, runs each in a savepoint of one transaction and
commits them together: one fsync for the group, so durability (``synchronous=FULL``) costs
one flush per batch instead of one per request. A write that raises rolls back its own
savepoint only. A reader pool runs reads alongside (WAL), and a checkpointer thread copies
the write-ahead log into the database file, off the writer's path.

PostgreSQL: every unit runs in a thread pool on one pooled connection; the database
orders concurrent writers itself. A write unit is one transaction. A read unit runs in
autocommit: under PostgreSQL's READ COMMITTED each statement sees its own snapshot, in a
transaction or not, so ``BEGIN`` and ``ROLLBACK`` would only add round trips to the one
or two statements of a typical read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from buildstate.server.db.prepared import Driver, driver_of
from buildstate.server.settings import Settings

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")
Unit = Callable[[Session], T]

log = logging.getLogger("buildstate.db")

_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}
# One reader thread: sqlite3 releases the GIL for every row it steps, and two readers
# hand the GIL back and forth so often that a 100-row page costs 2.4x the CPU (measured:
# 5.0 ms against 2.1 ms per page under 16 concurrent requests).
SQLITE_READERS = 1
POSTGRES_POOL = 10
PING_AFTER_IDLE = 10.0  # seconds a pooled PostgreSQL connection rests before it is checked
MAX_BATCH = 64  # writes committed together at most (bounds one transaction's size)
CHECKPOINT_INTERVAL = 0.05  # seconds between two checkpoints while writes keep coming


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


def sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


def _configure_sqlite(engine: Engine, *, synchronous: str, immediate: bool) -> None:
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


@dataclass
class _Job:
    fn: Unit[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = (False, None)  # (ok, value or exception)


def _answer(jobs: list[_Job]) -> None:
    """Hand each job's outcome to its waiting request: one wake-up per event loop, not one
    per job (each wake-up is a write to the loop's socket, and a GIL hand-over)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, answered in by_loop.items():
        outcomes = [(job.future, job.outcome) for job in answered]
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_all, loop, outcomes)


def _settle_all(
    loop: asyncio.AbstractEventLoop,
    outcomes: list[tuple[asyncio.Future[Any], tuple[bool, Any]]],
) -> None:
    for future, outcome in outcomes:  # each a callback of its own, as if woken alone
        loop.call_soon(_settle, future, outcome)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():  # the client went away; the write stands regardless
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Checkpointer:
    """Copies committed pages from SQLite's write-ahead log into the database file, on a
    thread and a connection of its own, so that the writer's own checkpoints stay small.

    SQLite checkpoints inside the commit that takes the log past 1,000 pages, on the
    writer thread, while every queued write waits. At a million builds, state reports
    update pages scattered over a 2 GB file, and that checkpoint (copy them, fsync the
    file) set the p99 of a state report. This thread runs a PASSIVE checkpoint after
    commits, at most once per ``interval``, so when SQLite's own turn comes nearly every
    page is already in the file and it copies only the last few.

    SQLite's automatic checkpoint stays on: only it, run by the writer between two
    commits, can finish a checkpoint under a steady stream of writes, and only a finished
    one lets the log start over (with it off, the log grew to 441 MB in 25 seconds). If
    this thread stops, the writer checkpoints as it did without it. A PASSIVE checkpoint
    never blocks the writer or a reader and copies only committed frames: durability is
    unchanged, and a crash in the middle of one leaves the log to be replayed as before.
    """

    def __init__(self, path: Path, *, synchronous: str, interval: float) -> None:
        self._path = path
        self._synchronous = synchronous
        self._interval = interval
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="buildstate-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called by the writer after each commit: there are frames to copy."""
        self._dirty.set()

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        self._thread.join()

    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None  # opened at the first commit
        try:
            while self._dirty.wait() and not self._stopping.is_set():
                self._dirty.clear()
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, isolation_level=None)
                        # It flushes the database file as the configured durability says.
                        connection.execute(f"PRAGMA synchronous={self._synchronous}")
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. a full disk; the next commit tries again
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                if self._stopping.wait(self._interval):
                    return
        finally:
            if connection is not None:
                connection.close()


class WriterLock:
    """Serializes the writer threads of several server processes on one SQLite file
    (``--workers N``) with a lock file next to it, ``<file>-writer``, taken around each
    group's transaction before SQLite's own lock.

    SQLite lets one writer in at a time anyway, but a writer that finds the file locked
    waits in SQLite's busy handler, which sleeps 1, 2, 5 … up to 100 ms between looks
    while the process holding the lock takes it again at once: with 2 workers the p99 of
    a write was 2.2 s. A writer waiting in ``flock`` is woken by the kernel when the lock
    is released (2 workers: p99 59–118 ms). Polling ``flock`` every millisecond instead
    starved the waiter the same way (p99 485–814 ms), so the wait has no deadline: a
    process stopped while holding the lock (a debugger, SIGSTOP) makes the others' writes
    wait for it, where SQLite would have failed them after its 30 s busy timeout.

    The lock cannot live on SQLite's own files: closing any descriptor of a file drops
    the process's SQLite locks on it. A read-only descriptor is enough for ``flock``, so
    a lock file created by another user does not stop a server. Without ``flock``
    (Windows) SQLite's busy handler alone orders the writers.
    """

    def __init__(self, database: Path) -> None:
        self._fd = os.open(f"{database}-writer", os.O_RDONLY | os.O_CREAT, 0o666)

    def __enter__(self) -> None:
        if sys.platform != "win32":
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if sys.platform != "win32":
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class GroupCommitWriter:
    """The SQLite writer thread: queued writes, committed in groups (see module doc)."""

    def __init__(
        self, sessions: sessionmaker[Session], checkpointer: Checkpointer, lock: WriterLock
    ) -> None:
        self._sessions = sessions
        self._checkpointer = checkpointer
        self._lock = lock
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="buildstate-writer", daemon=True)
        self._thread.start()

    async def run(self, fn: Unit[T]) -> T:
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future())
        self._queue.put(job)
        result: T = await job.future
        return result

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._lock.close()

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stopping = [first], False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[_Job]) -> None:
        settled: list[_Job] = []
        try:
            with self._lock:
                while batch:
                    batch = self._attempt(batch, settled)
        except Exception as exc:  # the lock file or the session failed, not a write
            log.exception("the SQLite writer could not run a group of writes")
            for job in batch:
                job.outcome = (False, exc)
            settled.extend(batch)
        _answer(settled)  # once the lock is released: it is held no longer than needed

    def _attempt(self, batch: list[_Job], settled: list[_Job]) -> list[_Job]:
        """Run ``batch`` in one transaction and add its jobs to ``settled``; or, if one
        job's failure took the whole transaction with it, settle that job and return the
        others, to be run again (nothing of theirs was kept)."""
        with self._sessions() as session:
            try:
                session.begin()
                if len(batch) == 1:  # no savepoint needed: if it fails, nothing is kept
                    batch[0].outcome = (True, batch[0].fn(session))
                else:
                    for i, job in enumerate(batch):
                        job.outcome = _in_savepoint(session, job.fn)
                        if not session.is_active:
                            if job.outcome[0]:  # it caught its own failed flush
                                rolled_back = "a write caught its own failed flush"
                                job.outcome = (False, RuntimeError(rolled_back))
                            settled.append(job)
                            rest = batch[:i] + batch[i + 1 :]
                            for other in rest:
                                other.outcome = (False, None)
                            return rest
                session.commit()
                self._checkpointer.committed()
            except Exception as exc:  # a lone write raised, or the commit failed
                for job in batch:
                    if job.outcome[0] or job.outcome[1] is None:
                        job.outcome = (False, exc)  # not durable: say so
        settled.extend(batch)
        return []


def _in_savepoint(session: Session, fn: Unit[T]) -> tuple[bool, Any]:
    """``fn`` in a savepoint of the batch's transaction, kept only if it succeeds.

    The savepoint is the driver's own: the ORM's ``begin_nested`` costs more than a state
    report's statements. So the ORM's view is kept in step by hand: the job's pending
    objects are flushed inside its savepoint, and after a rollback the session forgets the
    objects it holds. One case escapes the savepoint: a failed ORM flush makes the ORM roll
    back the whole transaction (``session.is_active`` turns false; see ``_attempt``).
    """
    driver = driver_of(session)
    driver.execute("SAVEPOINT job", ())
    try:
        result = fn(session)
        session.flush()
    except Exception as exc:  # this write only; the rest of the group goes on
        if session.is_active:
            driver.execute("ROLLBACK TO job", ())
            driver.execute("RELEASE job", ())
            session.expunge_all()
        return False, exc
    driver.execute("RELEASE job", ())
    return True, result


_SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False, "autoflush": False}


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
        with connection.begin(), Session(bind=connection, **_SESSION_OPTIONS) as session:
            session.info["driver"] = self._driver  # what driver_of would look up
            return fn(session)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


@dataclass
class Database:
    """The engines of one configured database and the units of work that run on them."""

    url: URL
    writer: Engine
    reader: Engine
    _read_pool: ThreadPoolExecutor
    _write_pool: ThreadPoolExecutor | None
    _group: GroupCommitWriter | None
    _checkpointer: Checkpointer | None
    _loop_reader: LoopReader | None
    _read_sessions: sessionmaker[Session] = field(init=False)
    _write_sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self._read_sessions = sessionmaker(self.reader, **_SESSION_OPTIONS)
        self._write_sessions = sessionmaker(self.writer, **_SESSION_OPTIONS)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_file(self) -> Path | None:
        return sqlite_path(self.url)

    async def read(self, fn: Unit[T]) -> T:
        """``fn(session)`` in a read transaction on a reader; its result."""
        return await self._in_thread(self._read_pool, self._read_sessions, fn, commit=False)

    async def lookup(self, fn: Unit[T]) -> T:
        """:meth:`read` for a read of bounded cost: rows found by key or index, never a
        scan (one build and its history, a counter, a token). On SQLite it runs right
        here on the event loop: such a read takes a fraction of a millisecond, less than
        the hand-off to a thread and back, and the GIL would serialize it anyway. On
        PostgreSQL it is a network round trip and goes to the thread pool like any read.
        """
        if self._loop_reader is None:
            return await self.read(fn)
        return self._loop_reader.run(fn)

    async def write(self, fn: Unit[T]) -> T:
        """``fn(session)`` in a write transaction; returns once it has committed, so a
        caller never acknowledges a write that is not durable. If ``fn`` raises, nothing
        it did is kept."""
        if self._group is not None:
            return await self._group.run(fn)
        assert self._write_pool is not None
        return await self._in_thread(self._write_pool, self._write_sessions, fn, commit=True)

    async def _in_thread(
        self,
        pool: ThreadPoolExecutor,
        sessions: sessionmaker[Session],
        fn: Unit[T],
        *,
        commit: bool,
    ) -> T:
        def unit() -> T:
            with sessions() as session:
                if commit:
                    with session.begin():
                        return fn(session)
                return fn(session)  # closing ends the read transaction, keeps what it read

        return await asyncio.get_running_loop().run_in_executor(pool, unit)

    def close(self) -> None:
        """Finish queued writes, then close every connection (blocking)."""
        if self._group is not None:
            self._group.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._loop_reader is not None:
            self._loop_reader.close()
        for pool in (self._read_pool, self._write_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self.writer.dispose()
        if self.reader.pool is not self.writer.pool:
            self.reader.dispose()


def create_database(settings: Settings) -> Database:
    url = driver_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise UnsupportedDatabase("an in-memory SQLite database cannot be shared: give a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {
            "max_overflow": 0,
            "pool_timeout": 60,
            "json_deserializer": orjson.loads,
        }
        writer = create_engine(url, pool_size=1, **options)
        # One connection per reader thread, and one for the event loop's lookups (which
        # never overlap): a lookup never waits for a connection.
        reader = create_engine(url, pool_size=SQLITE_READERS + 1, **options)
        _configure_sqlite(writer, synchronous=settings.sqlite_synchronous, immediate=True)
        _configure_sqlite(reader, synchronous=settings.sqlite_synchronous, immediate=False)
        lock = WriterLock(path)  # first: it may fail (permissions), before any thread starts
        checkpointer = Checkpointer(
            path, synchronous=settings.sqlite_synchronous, interval=CHECKPOINT_INTERVAL
        )
        db = Database(
            url,
            writer,
            reader,
            ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="buildstate-read"),
            None,
            None,
            checkpointer,
            LoopReader(reader),
        )
        db._group = GroupCommitWriter(db._write_sessions, checkpointer, lock)
        return db
    engine = create_engine(
        url,
        pool_size=POSTGRES_POOL,
        max_overflow=0,
        pool_timeout=30,
        # jsonb keeps a number as a decimal and writes 1e300 back as its 301 digits, which
        # the standard library reads as an integer no JSON encoder of ours takes; orjson
        # reads an integer beyond 64 bits as the float it was.
        json_deserializer=orjson.loads,
    )
    _ping_after_idle(engine, PING_AFTER_IDLE)
    # The same pool: switching a psycopg connection to autocommit and back is local.
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    threads = ThreadPoolExecutor(POSTGRES_POOL, thread_name_prefix="buildstate-db")
    return Database(url, engine, reads, threads, threads, None, None, None)


def _ping_after_idle(engine: Engine, idle: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, only for a connection that rested ``idle`` seconds
    in the pool: the server may have restarted, or a firewall dropped the idle socket,
    meanwhile. A connection back from work a moment ago is used as it is, which saves a
    round trip on every unit under load; should the server have gone in that moment,
    the unit fails (the request gets 503 with ``Retry-After``, see ``errors``) and the
    pool reconnects every connection older than it.
    """

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return  # new, or back from work a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool replaces it
            raise DisconnectionError(f"a pooled connection no longer answers: {exc}") from exc
