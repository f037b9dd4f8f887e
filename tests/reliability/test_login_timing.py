"""No user enumeration through timing: ``POST /token`` takes as long for an unknown user as
for a known user with a wrong password.

Robust against a noisy 2-core machine: the two kinds are interleaved in pairs (in random
order within each pair, after a warm-up), and the asserted gap is the median of the
per-pair differences, so a drifting load cancels within each pair and outliers do not
count (the gap of the two medians is reported too). ``BUILDSTATE_TIMING_TRIES`` sets the
number of tries (default 200, half of each kind). One database is enough: both paths run
the same queries; the question is whether the password hash is skipped.

The limit is relative to a login's own cost: skipping the hash would make the gap most of a
login (measured: a login takes ~175 ms, nearly all of it the hash), while VM noise has
reached 10 ms on a run where nothing was wrong (an absolute 10 ms limit failed there).
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.db.migrate import upgrade_database
from tests.conftest import ADMIN, relaxed_settings
from tests.reliability import report
from tests.reliability.conftest import budget

TRIES = budget("BUILDSTATE_TIMING_TRIES", 200)
MAX_GAP_FRACTION = 0.25  # of the median wrong-password login


def _timed_login(client: TestClient, username: str) -> float:
    started = time.perf_counter()
    response = client.post("/token", data={"username": username, "password": "wrong-pass-1"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 401, response.text
    return elapsed


def test_unknown_user_costs_as_much_as_a_wrong_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'timing.db'}"
    upgrade_database(relaxed_settings(url))
    with TestClient(create_app(relaxed_settings(url))) as client:
        made = client.post(
            "/users",
            headers=ADMIN,
            json={"username": "timing-user1", "password": "right-pass-1", "scopes": ["read"]},
        )
        assert made.status_code == 201, made.text
        kinds = {"wrong password": "timing-user1", "unknown user": "timing-nope1"}
        for username in [*kinds.values()] * 3:  # warm-up: connections, caches, code paths
            _timed_login(client, username)
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        rng = random.Random(TRIES)
        for _ in range(TRIES // 2):
            pair = list(kinds.items())
            rng.shuffle(pair)
            for kind, username in pair:
                times[kind].append(_timed_login(client, username))
    unknown, wrong = times["unknown user"], times["wrong password"]
    # The gap, as the median of the per-pair differences: each pair ran back to back, so
    # the machine's load drifting (other processes on 2 cores) cancels out of each one.
    gap = abs(statistics.median(u - w for u, w in zip(unknown, wrong, strict=True)))
    medians_gap = abs(statistics.median(unknown) - statistics.median(wrong))
    report.NOTES.append(
        f"login timing: {TRIES} tries; median wrong password "
        f"{statistics.median(wrong) * 1000:.1f} ms, unknown user "
        f"{statistics.median(unknown) * 1000:.1f} ms; gap of the medians "
        f"{medians_gap * 1000:.2f} ms, median paired gap {gap * 1000:.2f} ms"
    )
    assert len(unknown) == len(wrong) == TRIES // 2
    assert gap < MAX_GAP_FRACTION * statistics.median(wrong), (gap, medians_gap)
