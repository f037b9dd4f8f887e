"""Where the benchmark's databases live: SQLite files in a temporary directory, or
databases in a throwaway PostgreSQL cluster on a free loopback port. Both are removed
when the ``with`` block ends.

The cluster keeps PostgreSQL's durable defaults (``fsync``, ``synchronous_commit``), to
compare fairly with SQLite's default ``synchronous=FULL``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import create_database, postgres_cluster

UrlFor = Callable[[str], str]
"""A database name → the ``DATABASE_URL`` of a new, empty database with that name."""


@contextmanager
def sqlite_databases() -> Iterator[UrlFor]:
    root = Path(tempfile.mkdtemp(prefix="buildstate-bench-"))
    try:
        yield lambda name: f"sqlite:///{root / name}.db"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_databases() -> Iterator[UrlFor]:
    with postgres_cluster(durable=True) as base:
        yield lambda name: create_database(base, name)
