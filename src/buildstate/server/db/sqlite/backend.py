"""The SQLite backend: a writer thread committing groups, a reader pool, the event loop's
own reader, and a checkpointer (see docs/architecture.md)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from buildstate.server.db.backend import SESSION_OPTIONS, T, Unit, reading
from buildstate.server.db.sqlite.checkpoint import Checkpointer
from buildstate.server.db.sqlite.connect import configure
from buildstate.server.db.sqlite.lock import WriterLock
from buildstate.server.db.sqlite.reader import LoopReader
from buildstate.server.db.sqlite.writer import GroupCommitWriter

# One reader thread: sqlite3 releases the GIL for every row it steps, and two readers
# hand the GIL back and forth so often that a 100-row page costs more than twice the CPU
# under concurrent requests (see bench/RESULTS.md).
SQLITE_READERS = 1
CHECKPOINT_INTERVAL = 0.05  # seconds between two checkpoints while writes keep coming


class SqliteBackend:
    """Units of work on one SQLite file: writes through :class:`GroupCommitWriter`, reads
    on a reader thread, lookups on the event loop (:class:`LoopReader`)."""

    def __init__(self, url: URL, path: Path, *, synchronous: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {
            "max_overflow": 0,
            "pool_timeout": 60,
            "json_deserializer": orjson.loads,
        }
        self.writer = create_engine(url, pool_size=1, **options)
        # One connection per reader thread, and one for the event loop's lookups (which
        # never overlap): a lookup never waits for a connection.
        self.reader = create_engine(url, pool_size=SQLITE_READERS + 1, **options)
        configure(self.writer, synchronous=synchronous, immediate=True)
        configure(self.reader, synchronous=synchronous, immediate=False)
        lock = WriterLock(path)  # first: it may fail (permissions), before any thread starts
        self._checkpointer = Checkpointer(
            path, synchronous=synchronous, interval=CHECKPOINT_INTERVAL
        )
        self._read_pool = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="buildstate-read")
        self._read_sessions = sessionmaker(self.reader, **SESSION_OPTIONS)
        self._loop_reader = LoopReader(self.reader)
        self._writer = GroupCommitWriter(
            sessionmaker(self.writer, **SESSION_OPTIONS), self._checkpointer, lock
        )

    async def read(self, fn: Unit[T]) -> T:
        unit = reading(self._read_sessions, fn)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, unit)

    async def lookup(self, fn: Unit[T]) -> T:
        """Right here on the event loop (see :meth:`Database.lookup`)."""
        return self._loop_reader.run(fn)

    async def write(self, fn: Unit[T]) -> T:
        return await self._writer.run(fn)

    def close(self) -> None:
        self._writer.stop()
        self._checkpointer.stop()
        self._loop_reader.close()
        self._read_pool.shutdown(wait=True)
        self.writer.dispose()
        self.reader.dispose()
