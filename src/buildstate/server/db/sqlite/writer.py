"""The SQLite writer thread: queued writes, committed in groups.

One thread owns the single writer connection (``BEGIN IMMEDIATE``). It takes every write
waiting in its queue, runs each in a savepoint of one transaction and commits them
together: one fsync for the group, so durability (``synchronous=FULL``) costs one flush
per batch instead of one per request. A write that raises rolls back its own savepoint
only. The outcomes go back to the waiting requests' event loops, one wake-up per loop.
See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from buildstate.server.db.backend import T, Unit
from buildstate.server.db.prepared import driver_of
from buildstate.server.db.sqlite.checkpoint import Checkpointer
from buildstate.server.db.sqlite.lock import WriterLock

log = logging.getLogger("buildstate.db")

MAX_BATCH = 64  # writes committed together at most (bounds one transaction's size)


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
        """``fn(session)`` in the next group; returns once that group has committed."""
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
