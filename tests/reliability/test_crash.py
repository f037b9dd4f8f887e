"""kill -9 the server mid-burst, restart, retry unanswered requests with the same
Idempotency-Key: every acknowledged write is there exactly once. Trials per database:
``BUILDSTATE_CRASH_TRIALS`` (default 5)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from buildstate.server.settings import Settings
from tests.conftest import clean_settings
from tests.reliability import report
from tests.reliability.conftest import budget, db_name
from tests.reliability.crash import run_trials

TRIALS = budget("BUILDSTATE_CRASH_TRIALS", 5)

pytestmark = pytest.mark.e2e


def test_sqlite_default_is_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness runs the server on the default, which must be the durable one."""
    monkeypatch.delenv("BUILDSTATE_SQLITE_SYNCHRONOUS", raising=False)
    assert Settings(DATABASE_URL="sqlite:///x.db").sqlite_synchronous.upper() == "FULL"


def test_acknowledged_writes_survive_kill_9(backend: str, tmp_path: Path) -> None:
    name = db_name(backend)
    seed = random.randrange(1_000_000)
    if name == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        clean_settings(backend)  # an emptied database; the server seeds it again
        url = backend
    results = run_trials(url, tmp_path, trials=TRIALS, seed=seed)
    totals = {
        "acknowledged": sum(r.acknowledged for r in results),
        "unanswered (retried)": sum(r.unknown for r in results),
        "cut mid-request": sum(r.in_flight for r in results),
        "replayed": sum(r.replayed for r in results),
        "lost": sum(len(r.lost) for r in results),
        "duplicated": sum(len(r.duplicated) for r in results),
    }
    report.NOTES.append(f"crash [{name}]: {len(results)} trials, seed {seed}: {totals}")
    failures = [f"trial {i} (seed {seed}): {r}" for i, r in enumerate(results) if not r.ok]
    assert not failures, "\n".join(failures)
    assert len(results) == TRIALS
    assert totals["acknowledged"] > 0
