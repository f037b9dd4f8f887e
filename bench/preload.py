"""Preload N builds with their history, in bulk, straight into a migrated database.

The catalog rows the builds point at are created through the API first (``seed_catalog``),
then the builds, ~6 history rows each and a failure per failed build go in with the raw
driver: ``sqlite3.executemany`` (indexes dropped during the load, recreated after) or
psycopg's ``COPY``. The counters are recomputed from ``builds`` at the end.

Build ``i`` (0 ≤ i < N) has id ``id_of(i)`` and its shape depends on ``i % 20``; every
``i % 4 == 0`` build is in progress at state 50 with its last report ``in_progress``, so
``bench/load.lua`` can report state 50 to it again and again (see ``PROFILES``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.server import API_KEY

PROJECTS = 4
PLATFORMS = ("aws-commercial", "gcp-bench")  # the first is seeded by development mode
_START = [(0, "pending"), (10, "in_progress"), (10, "completed"), (25, "in_progress")]


@dataclass(frozen=True)
class Profile:
    status: str
    states: tuple[tuple[int, str], ...]  # (state_code, state status), oldest first

    @property
    def current_state(self) -> int:
        return self.states[-1][0]


RUNNING = Profile("in_progress", (*_START, (25, "completed"), (50, "in_progress")))
PENDING = Profile("pending", ((0, "pending"),))
FAILED = Profile("failed", (*_START, (25, "completed"), (50, "failed")))
CANCELLED = Profile("cancelled", (*_START, (25, "completed"), (25, "cancelled")))
COMPLETED = Profile("completed", tuple((c, "completed") for c in (0, 10, 25, 50, 75, 100)))
# By i % 20: 25% running, 5% pending, 10% failed, 5% cancelled, 55% completed.
PROFILES = tuple(
    RUNNING if k % 4 == 0 else {1: PENDING, 2: FAILED, 6: FAILED, 3: CANCELLED}.get(k, COMPLETED)
    for k in range(20)
)


def id_of(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def seed_catalog(base_url: str) -> None:
    """The platform and projects the preloaded builds use, through the API."""
    with httpx.Client(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=30) as api:
        for platform in PLATFORMS[1:]:
            body = {"id": platform, "name": platform, "cloud_provider": "gcp", "region": "x"}
            api.post("/platforms/", json=body).raise_for_status()
        for p in range(PROJECTS):
            api.post(
                "/projects/", json={"id": f"bench-p{p}", "name": f"bench-p{p}"}
            ).raise_for_status()


@dataclass
class Rows:
    """The rows of ``n`` builds, in chunks, with timestamps and booleans in the form the
    driver wants (``stamp``, ``flag``)."""

    n: int
    stamp: Callable[[datetime], Any]
    flag: Callable[[bool], Any]

    def __post_init__(self) -> None:
        self.origin = datetime.now(UTC) - timedelta(days=400)
        self.step = timedelta(days=365) / max(self.n, 1)

    def _created(self, i: int) -> datetime:
        return self.origin + self.step * i

    def builds(self) -> Iterator[tuple[Any, ...]]:
        stamp = self.stamp
        for i in range(self.n):
            profile = PROFILES[i % 20]
            created = self._created(i)
            started = created + timedelta(minutes=1) if profile is not PENDING else None
            ended = created + timedelta(minutes=len(profile.states))
            finished = ended if profile.status not in ("pending", "in_progress") else None
            yield (
                id_of(i), f"bench-p{(i // 4) % PROJECTS}", PLATFORMS[(i // 20) % len(PLATFORMS)],
                "rhel-9.3", "base", f"pre-{i}", profile.status, profile.current_state, 1,
                "bench-preload", None, "{}", "{}", stamp(created), stamp(ended),
                started and stamp(started), finished and stamp(finished),
            )  # fmt: skip

    def states(self) -> Iterator[tuple[Any, ...]]:
        state_id = 0
        for i in range(self.n):
            created, build = self._created(i), id_of(i)
            for minute, (code, status) in enumerate(PROFILES[i % 20].states):
                state_id += 1
                message = "Build created" if minute == 0 else f"state {code} {status}"
                at = self.stamp(created + timedelta(minutes=minute))
                yield (state_id, build, 1, code, status, message, None, at)

    def failures(self) -> Iterator[tuple[Any, ...]]:
        state_id = failure_id = 0
        details = json.dumps({"step": "packer"})
        for i in range(self.n):
            profile = PROFILES[i % 20]
            state_id += len(profile.states)
            if profile is FAILED:
                failure_id += 1
                at = self.stamp(self._created(i) + timedelta(minutes=len(profile.states) - 1))
                yield (
                    failure_id, id_of(i), state_id, 1, profile.current_state, "PACKER_TIMEOUT",
                    "AMI creation timeout", details, self.flag(True), self.flag(False), at,
                )  # fmt: skip


TABLES = ("builds", "build_states", "build_failures")
COLUMNS = {"builds": 17, "build_states": 8, "build_failures": 11}
COUNTERS = {  # the counters the server keeps in step, recomputed from builds
    table: f"INSERT INTO {table} ({key}, status, count) "
    f"SELECT {key}, status, COUNT(*) FROM builds GROUP BY {key}, status"
    for table, key in (("build_counters", "platform_id"), ("build_project_counters", "project_id"))
}


def _sources(rows: Rows) -> dict[str, Iterator[tuple[Any, ...]]]:
    return dict(zip(TABLES, (rows.builds(), rows.states(), rows.failures()), strict=True))


def load(database_url: str, n: int) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        _load_sqlite(url.database, n)
    else:
        _load_postgres(url.set(drivername="postgresql").render_as_string(False), n)


def _load_sqlite(path: str, n: int) -> None:
    """In one transaction, with the tables' indexes dropped during the inserts (SQLite
    stores datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC, as SQLAlchemy does)."""
    rows = Rows(n, stamp=lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f"), flag=int)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT COUNT(*) FROM builds").fetchone() != (0,):
            raise RuntimeError(f"{path} already has builds: preload needs a fresh database")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN (?, ?, ?)",
            TABLES,
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table, source in _sources(rows).items():
            marks = ", ".join("?" * COLUMNS[table])
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", source)
        for _, sql in indexes:
            conn.execute(sql)
        for table, recount in COUNTERS.items():
            conn.execute(f"DELETE FROM {table}")
            conn.execute(recount)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _load_postgres(dsn: str, n: int) -> None:
    """``COPY`` per table in one transaction; then the id sequences and ANALYZE."""
    rows = Rows(n, stamp=lambda d: d, flag=bool)
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            for table, source in _sources(rows).items():
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    for record in source:
                        copy.write_row(record)
            for table, recount in COUNTERS.items():
                conn.execute(f"DELETE FROM {table}")
                conn.execute(recount)
            for table in TABLES[1:]:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                )
        conn.autocommit = True
        conn.execute("ANALYZE")
