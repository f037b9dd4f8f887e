"""The lock that serializes the SQLite writers of several server processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl


class WriterLock:
    """Serializes the writer threads of several server processes on one SQLite file
    (``--workers N``) with a lock file next to it, ``<file>-writer``, taken around each
    group's transaction before SQLite's own lock.

    SQLite lets one writer in at a time anyway, but a writer that finds the file locked
    waits in SQLite's busy handler, which sleeps 1, 2, 5 … up to 100 ms between looks
    while the process holding the lock takes it again at once: with 2 workers the p99 of
    a write was seconds. A writer waiting in ``flock`` is woken by the kernel when the
    lock is released. Polling ``flock`` every millisecond instead starved the waiter the
    same way, so the wait has no deadline: a process stopped while holding the lock (a
    debugger, SIGSTOP) makes the others' writes wait for it, where SQLite would have
    failed them after its 30 s busy timeout. Measurements: see bench/RESULTS.md.

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
