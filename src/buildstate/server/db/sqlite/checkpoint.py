"""Background WAL checkpoints: the write-ahead log copied into the database file off the
writer's path."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("buildstate.db")


class Checkpointer:
    """Copies committed pages from SQLite's write-ahead log into the database file, on a
    thread and a connection of its own, so that the writer's own checkpoints stay small.

    SQLite checkpoints inside the commit that takes the log past 1,000 pages, on the
    writer thread, while every queued write waits. On a large database, state reports
    update pages scattered over the whole file, and that checkpoint (copy them, fsync the
    file) set the p99 of a state report. This thread runs a PASSIVE checkpoint after
    commits, at most once per ``interval``, so when SQLite's own turn comes nearly every
    page is already in the file and it copies only the last few.

    SQLite's automatic checkpoint stays on: only it, run by the writer between two
    commits, can finish a checkpoint under a steady stream of writes, and only a finished
    one lets the log start over (with it off, the log grew without bound). If this thread
    stops, the writer checkpoints as it did without it. A PASSIVE checkpoint never blocks
    the writer or a reader and copies only committed frames: durability is unchanged, and
    a crash in the middle of one leaves the log to be replayed as before. Measurements:
    see bench/RESULTS.md.
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
