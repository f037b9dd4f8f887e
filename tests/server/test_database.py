"""The SQLite database's own machinery, seen from outside: group commit, the background
WAL checkpoints and the lock that serializes the writers of several processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.db import postgres as postgres_module
from buildstate.server.db.backend import Unit
from buildstate.server.db.database import Database, create_database, driver_url
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.projects.models import Project
from buildstate.server.settings import Settings
from buildstate.server.state import state_of
from tests.conftest import ADMIN, relaxed_settings


def _add_project(project_id: str, name: str, *, then_fail: bool = False) -> Unit[str]:
    def write(session: Session) -> str:
        session.add(Project(id=project_id, name=name))
        session.flush()
        if then_fail:
            raise ValueError(f"{project_id} changed its mind")
        return project_id

    return write


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    settings = relaxed_settings(f"sqlite:///{tmp_path / 'writes.db'}")
    upgrade_database(settings)
    db = create_database(settings)
    yield db
    db.close()


class Occupier:
    """A write that holds the writer thread, inside its transaction, until released."""

    def __init__(self, then: Unit[str]) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self._then = then

    def __call__(self, session: Session) -> str:
        self.inside.set()
        assert self.release.wait(10)
        return self._then(session)

    async def entered(self) -> None:
        assert await asyncio.to_thread(self.inside.wait, 10)


def test_writes_committed_together_fail_alone(database: Database) -> None:
    """One group of writes, one transaction: a write that raises loses only its own work,
    even when its failed flush takes the ORM's whole transaction down (the others are run
    again), and every caller hears its own outcome."""
    occupier = Occupier(_add_project("taken", "taken"))
    commits: list[object] = []
    event.listen(database.writer, "commit", commits.append)

    async def scenario() -> list[object]:
        first = asyncio.create_task(database.write(occupier))
        await occupier.entered()
        group = [
            asyncio.create_task(database.write(write))
            for write in (
                _add_project("kept-1", "kept-1"),
                _add_project("raises", "raises", then_fail=True),
                _add_project("dup", "taken"),  # unique name: the flush fails
                _add_project("kept-2", "kept-2"),
            )
        ]
        await asyncio.sleep(0)  # every write of the group is queued behind the first
        occupier.release.set()
        return await asyncio.gather(first, *group, return_exceptions=True)

    taken, kept_1, raised, duplicate, kept_2 = asyncio.run(scenario())
    assert (taken, kept_1, kept_2) == ("taken", "kept-1", "kept-2")
    assert isinstance(raised, ValueError)
    assert isinstance(duplicate, IntegrityError)
    stored = asyncio.run(
        database.read(lambda session: sorted(session.scalars(select(Project.id)).all()))
    )
    assert stored == ["kept-1", "kept-2", "taken"]
    assert len(commits) == 2  # the first write alone, then the group (run again once)


def _in_database_file(path: Path, project_id: str) -> bool:
    """Whether the project is in the database file itself, the write-ahead log ignored
    (``immutable=1`` reads the file alone; a fresh connection each time, as it caches)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file_only:
        try:
            query = "SELECT 1 FROM projects WHERE id = ?"
            return file_only.execute(query, (project_id,)).fetchone() is not None
        except sqlite3.DatabaseError:  # read without locks, in the middle of a checkpoint
            return False


def test_committed_writes_are_checkpointed_into_the_file_in_the_background(
    tmp_path: Path,
) -> None:
    path = tmp_path / "checkpoint.db"
    settings = relaxed_settings(f"sqlite:///{path}")
    upgrade_database(settings)
    with TestClient(create_app(settings)) as client:
        made = client.post("/projects/", headers=ADMIN, json={"name": "checkpointed"})
        assert made.status_code == 201, made.text
        project_id = made.json()["id"]
        # A few pages of log: far below the 1,000 at which SQLite itself would checkpoint
        # in the writer's commit, so only the background checkpointer copies them now.
        deadline = time.monotonic() + 10
        while not _in_database_file(path, project_id):
            assert time.monotonic() < deadline, "the write never reached the database file"
            time.sleep(0.02)
    assert not [t for t in threading.enumerate() if t.name == "buildstate-checkpoint"]


def test_a_write_transaction_holds_the_writer_lock_of_every_process(database: Database) -> None:
    def fails(_session: Session) -> str:
        raise ValueError("this write fails")

    occupier = Occupier(fails)

    async def scenario(other_process: int) -> None:
        write = asyncio.create_task(database.write(occupier))
        await occupier.entered()
        with pytest.raises(BlockingIOError):
            fcntl.flock(other_process, fcntl.LOCK_EX | fcntl.LOCK_NB)
        occupier.release.set()
        with pytest.raises(ValueError, match="this write fails"):
            await write
        fcntl.flock(other_process, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released, failed or not
        writing = asyncio.create_task(database.write(lambda _session: "committed"))
        await asyncio.sleep(0.2)
        assert not writing.done()  # waits for the other process
        fcntl.flock(other_process, fcntl.LOCK_UN)
        assert await writing == "committed"

    # Another process's writer: an open file description of the lock file of its own.
    other_process = os.open(f"{database.sqlite_file}-writer", os.O_RDONLY)
    try:
        asyncio.run(scenario(other_process))
    finally:
        os.close(other_process)


def test_a_read_sees_a_commit_made_meanwhile_only_on_postgresql(settings: Settings) -> None:
    """SQLite: a read unit is one snapshot. PostgreSQL, READ COMMITTED: each statement sees
    what was committed before it, in a transaction or not (reads run in autocommit)."""
    db = create_database(settings)
    other = create_engine(driver_url(settings.database_url))

    def count(session: Session) -> int:
        return session.scalar(select(func.count()).select_from(Project)) or 0

    def read(session: Session) -> tuple[int, int]:
        before = count(session)
        with other.begin() as connection:  # another client commits meanwhile
            connection.execute(insert(Project).values(id="meanwhile", name="Meanwhile"))
        return before, count(session)

    try:
        before, after = asyncio.run(db.read(read))
        assert after == before + (1 if db.dialect == "postgresql" else 0)
    finally:
        other.dispose()
        db.close()


@pytest.mark.postgres_only
def test_a_read_on_postgresql_is_no_transaction_and_a_write_is_one(settings: Settings) -> None:
    """A read runs without BEGIN and ROLLBACK (two round trips saved): each of its
    statements is a transaction of its own; a write's statements share one."""
    db = create_database(settings)

    def two_moments(session: Session) -> tuple[object, object]:
        first = session.scalar(text("SELECT transaction_timestamp()"))
        time.sleep(0.01)
        return first, session.scalar(text("SELECT transaction_timestamp()"))

    try:
        read_first, read_second = asyncio.run(db.read(two_moments))
        write_first, write_second = asyncio.run(db.write(two_moments))
        assert read_first != read_second
        assert write_first == write_second
    finally:
        db.close()


def _terminate(url: str) -> None:
    """What a server restart does to open connections, to this database's only."""
    engine = create_engine(driver_url(url))
    query = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    try:
        with engine.connect() as connection:
            assert all(connection.scalars(query))
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_a_pooled_connection_is_checked_only_after_resting(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that rested in the pool is pinged, and replaced if its server side is
    gone; one back from work a moment ago is used without the extra round trip, so if
    the server went in that moment the unit fails, and the pool reconnects after it."""
    monkeypatch.setattr(postgres_module, "PING_AFTER_IDLE", 0.2)
    db = create_database(settings)

    def read(session: Session) -> int:
        return session.scalar(text("SELECT 1")) or 0

    try:
        assert asyncio.run(db.read(read)) == 1
        _terminate(settings.database_url)
        time.sleep(0.3)  # rested: checked, found gone, replaced
        assert asyncio.run(db.read(read)) == 1

        _terminate(settings.database_url)  # and used again at once: not checked
        with pytest.raises(OperationalError):
            asyncio.run(db.read(read))
        assert asyncio.run(db.read(read)) == 1  # the failure made the pool reconnect
    finally:
        db.close()


@pytest.mark.postgres_only
def test_a_request_on_a_lost_connection_is_a_503_and_the_next_one_reconnects(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_module, "PING_AFTER_IDLE", 3600.0)  # never checked first
    missing = "/builds/00000000-0000-4000-8000-000000000000"
    with TestClient(create_app(settings)) as client:
        assert client.get(missing, headers=ADMIN).status_code == 404
        # Several idle connections in the pool (the background services open their own):
        # after the first failure, none of the others may be handed out again.
        engine = state_of(client.app).db.writer  # type: ignore[arg-type]
        held = [engine.connect() for _ in range(3)]
        for connection in held:
            connection.close()
        _terminate(settings.database_url)
        lost = client.get(missing, headers=ADMIN)
        assert lost.status_code == 503, lost.text
        assert lost.headers["Retry-After"] == "1"
        assert client.get(missing, headers=ADMIN).status_code == 404
