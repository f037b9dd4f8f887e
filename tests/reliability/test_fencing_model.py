"""Fencing under concurrency: a Hypothesis state machine runs several workers of one build
at once against a real server (uvicorn, its own pools, on each database).

Each worker holds the attempt it was handed (the build's first, or the one its resume or
its retrying report returned) and names it in every state report and failure. A step is
a *race*: 2–5 requests sent together (reports and failures of random workers, resumes,
forced or not, expecting the current attempt or not). After every race:

- no report from a superseded attempt was recorded: the history row before each recorded
  report or failure is of the attempt its worker named (it was current when recorded);
- attempts only grow, and each new attempt was started by exactly one 2xx (a resume, or a
  report that retried the failed attempt it named);
- at most one attempt was started without force and left running (by a resume, or by a
  retrying report), and exactly one when the build was failed and the race had a resume
  expecting no attempt and none forced; of the resumes that expected the attempt current
  at the start of the race, at most one succeeded.

Budget: ``BUILDSTATE_FENCING_STEPS`` (steps per database, default 200).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count, pairwise
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.conftest import ADMIN
from tests.reliability import report
from tests.reliability.conftest import budget, db_name
from tests.services import build_body

STEPS = budget("BUILDSTATE_FENCING_STEPS", 200)
RACES_PER_RUN = 8
MOST_AT_ONCE = 5

# The build never completes (no report at 100): every race has something to fence.
reports = st.tuples(
    st.just("report"),
    st.integers(0, 7),  # which worker (modulo how many there are)
    st.sampled_from([20, 30, 40, 50, 60]),
    st.sampled_from(["in_progress", "in_progress", "completed", "failed"]),
)
failures = st.tuples(
    st.just("failure"), st.integers(0, 7), st.sampled_from([20, 40, 60]), st.booleans()
)
# (resume, force, expect the current attempt)
resumes = st.tuples(st.just("resume"), st.sampled_from([False, False, True]), st.booleans())
races = st.lists(
    st.one_of(reports, reports, failures, resumes, resumes), min_size=2, max_size=MOST_AT_ONCE
)


@dataclass
class Sent:
    """One request of a race and its answer."""

    kind: str  # report, failure, resume
    named: int | None  # the attempt a report names; the attempt a resume expects
    force: bool
    status: int
    answer: dict[str, Any]


@pytest.fixture
def http(module_server: str) -> Iterator[Any]:
    """``http()``: this thread's client of the module's server (one per racing thread)."""
    local = threading.local()
    made: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=module_server, headers=ADMIN, timeout=60)
            made.append(local.client)
        return local.client  # type: ignore[no-any-return]

    yield client
    for each in made:
        each.close()


def make_machine(http: Any, backend: str) -> type[RuleBasedStateMachine]:
    name = db_name(backend)
    setup = http()
    project = setup.post("/projects/", json={"name": f"fencing-{next(_projects)}"})
    assert project.status_code == 201, project.text
    numbers = count()
    pool = ThreadPoolExecutor(max_workers=MOST_AT_ONCE)

    class Workers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.build = ""
            self.workers: list[int] = []  # the attempt each worker holds
            self.tags: dict[str, int] = {}  # report message -> the attempt it named
            self.seen = 0  # history rows already checked

        @initialize()
        def start(self) -> None:
            created = setup.post(
                "/builds",
                json=build_body(project.json()["id"], f"fenced-{next(numbers)}"),
            )
            assert created.status_code == 201, created.text
            self.build = created.json()["id"]
            self.workers = [1]

        @rule(race=races)
        def race(self, race: list[tuple[Any, ...]]) -> None:
            before = self._view()
            ready = threading.Barrier(len(race), timeout=60)
            jobs = [self._request(action, ready) for action in race]
            sent = list(pool.map(lambda job: job(), jobs))
            report.COUNTS[("fencing races", name)] += 1
            report.COUNTS[("fencing requests", name)] += len(sent)
            self._learn(sent)
            self._check(before, sent)

        @rule(retryable=st.booleans())
        def current_worker_fails(self, retryable: bool) -> None:
            """Alone, so that races often start on a failed build."""
            body = {"state_code": 60, "error_message": "alone", "is_retryable": retryable}
            failed = setup.post(
                f"/builds/{self.build}/failure", json={**body, "attempt": max(self.workers)}
            )
            assert failed.status_code in (201, 409), failed.text  # 409: already failed
            report.COUNTS[("fencing failures between races", name)] += 1

        def teardown(self) -> None:
            if self.build:
                self._check_history(self._view()["history"])

        # -- a race ----------------------------------------------------------------------
        def _request(self, action: tuple[Any, ...], ready: threading.Barrier) -> Any:
            """The request ``action`` makes, as a call that waits for the others first."""
            kind = action[0]
            path = f"/builds/{self.build}/{'state' if kind == 'report' else kind}"
            if kind == "resume":
                _, force, expect = action
                named = max(self.workers) if expect else None  # the current attempt
                body: dict[str, Any] = {"force": force}
                if named is not None:
                    body["expected_attempt"] = named
            else:
                _, which, code, extra = action
                named = self.workers[which % len(self.workers)]
                tag = f"race-{len(self.tags)}"
                self.tags[tag] = named
                if kind == "report":
                    body = {"state_code": code, "status": extra, "message": tag}
                else:
                    body = {"state_code": code, "error_message": tag, "is_retryable": extra}
                body["attempt"] = named

            def call() -> Sent:
                ready.wait()
                response = http().post(path, json=body)
                force = bool(body.get("force"))
                return Sent(kind, named, force, response.status_code, response.json())

            return call

        def _learn(self, sent: list[Sent]) -> None:
            """Each 2xx that started an attempt gives it to a (new) worker; the older
            workers stay, to keep sending reports that must be refused."""
            for each in sent:
                if each.status in (200, 201) and each.answer["attempt"] != each.named:
                    self.workers.append(each.answer["attempt"])
            self.workers = self.workers[-6:]

        # -- checks ----------------------------------------------------------------------
        def _view(self) -> dict[str, Any]:
            response = setup.get(f"/builds/{self.build}/state")
            assert response.status_code == 200, response.text
            return dict(response.json())

        def _check(self, before: dict[str, Any], sent: list[Sent]) -> None:
            after = self._view()
            for each in sent:
                allowed = {"report": {200, 409}, "failure": {201, 409}, "resume": {200, 409}}
                assert each.status in allowed[each.kind], each
                if each.status == 409 and each.kind != "resume" and each.named != after["attempt"]:
                    report.COUNTS[("fencing reports refused as stale", name)] += 1
            self._check_history(after["history"])
            started = [s for s in sent if s.status in (200, 201) and s.answer["attempt"] != s.named]
            assert after["attempt"] - before["attempt"] == len(started), (before, after, sent)
            # Unforced, and left the build running: a report that retried a failed attempt
            # with status failed leaves it failed, and a resume may then follow it.
            plain = [
                s
                for s in started
                if not s.force and (s.kind == "resume" or s.answer["build_status"] != "failed")
            ]
            assert len(plain) <= 1, sent
            resumes = [s for s in sent if s.kind == "resume"]
            # A resume expecting the failed attempt is refused after a report that retried it
            # (and failed again); one expecting nothing then starts the next attempt.
            unconditional = any(s.named is None for s in resumes)
            if before["status"] == "failed" and unconditional and not any(s.force for s in resumes):
                assert len(plain) == 1, sent
                report.COUNTS[("fencing races on a failed build: one attempt", name)] += 1
            expecting = [s for s in resumes if s.named == before["attempt"] and s.status == 200]
            assert len(expecting) <= 1, sent

        def _check_history(self, history: list[dict[str, Any]]) -> None:
            for previous, row in pairwise(history):
                assert row["attempt"] >= previous["attempt"], history
                named = self.tags.get(row["message"] or "")
                if named is not None:  # a worker's report or failure
                    assert previous["attempt"] == named, ("recorded while superseded", row)
                    assert row["attempt"] in (named, named + 1), row

    return Workers


_projects = count()


def test_superseded_workers_never_write(http: Any, backend: str) -> None:
    machine = make_machine(http, backend)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max(1, -(-STEPS // RACES_PER_RUN)),
            stateful_step_count=RACES_PER_RUN,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert report.COUNTS[("fencing races", db_name(backend))] > 0
