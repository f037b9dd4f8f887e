"""The state machine's rules, exhaustively over statuses, codes and report kinds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from buildstate.server.builds import statemachine as sm
from buildstate.server.builds.statemachine import BuildStatus, Rules, Snapshot, StateStatus
from buildstate.server.errors import Conflict, Unprocessable

CODES = [0, 5, 10, 25, 50, 99, 100]


def snap(
    status: BuildStatus,
    current: int = 25,
    last: StateStatus | None = StateStatus.in_progress,
    retryable: bool | None = None,
    blocking: bool | None = None,
) -> Snapshot:
    return Snapshot("b1", status, current, 1, last, retryable, blocking)


@pytest.mark.parametrize(
    ("status", "code", "reported"),
    list(
        itertools.product([BuildStatus.completed, BuildStatus.cancelled], CODES, list(StateStatus))
    ),
)
def test_frozen_builds_accept_nothing(
    status: BuildStatus, code: int, reported: StateStatus
) -> None:
    with pytest.raises(Conflict, match=f"is {status.value}"):
        sm.report_state(snap(status), Rules(), code, reported)
    with pytest.raises(Conflict):
        sm.record_failure(snap(status), Rules(), code)
    with pytest.raises(Conflict):
        sm.start_resume(snap(status))
    with pytest.raises(Conflict, match="already"):
        sm.cancel(snap(status))


@pytest.mark.parametrize(
    ("status", "code", "reported"),
    list(
        itertools.product([BuildStatus.pending, BuildStatus.in_progress], CODES, list(StateStatus))
    ),
)
def test_active_builds_never_go_backwards(
    status: BuildStatus, code: int, reported: StateStatus
) -> None:
    current = 25
    if code < current:
        with pytest.raises(Conflict, match=f"lower than the current state {current}"):
            sm.report_state(snap(status, current), Rules(), code, reported)
        return
    outcome = sm.report_state(snap(status, current), Rules(), code, reported)
    assert outcome.attempt == 1
    if reported is StateStatus.failed:
        assert outcome.status is BuildStatus.failed
    elif reported is StateStatus.completed and code == 100:
        assert outcome.status is BuildStatus.completed
    elif reported is StateStatus.pending and status is BuildStatus.pending:
        assert outcome.status is BuildStatus.pending
    else:
        assert outcome.status is BuildStatus.in_progress


@pytest.mark.parametrize("reported", [StateStatus.pending, StateStatus.in_progress])
def test_a_completed_state_cannot_be_reopened(reported: StateStatus) -> None:
    with pytest.raises(Conflict, match="already completed"):
        sm.report_state(
            snap(BuildStatus.in_progress, 25, StateStatus.completed), Rules(), 25, reported
        )
    again = sm.report_state(
        snap(BuildStatus.in_progress, 25, StateStatus.completed), Rules(), 25, StateStatus.completed
    )
    assert again.status is BuildStatus.in_progress


def test_completed_at_the_projects_final_state_completes_the_build() -> None:
    rules = Rules.of("p", [(0, False), (10, False), (60, False)])
    assert rules.final_state == 60
    done = sm.report_state(snap(BuildStatus.in_progress, 10), rules, 60, StateStatus.completed)
    assert done.status is BuildStatus.completed
    running = sm.report_state(snap(BuildStatus.in_progress, 10), rules, 60, StateStatus.in_progress)
    assert running.status is BuildStatus.in_progress


def test_undefined_codes_are_refused_with_the_allowed_list() -> None:
    rules = Rules.of("p", [(0, False), (10, False), (25, True)])
    rules.check_code(10)
    with pytest.raises(Unprocessable, match="allowed codes: 0, 10, 25"):
        rules.check_code(15)
    Rules().check_code(15)  # no definitions: any 0–100


@pytest.mark.parametrize(
    ("retryable", "blocking", "allowed"),
    [(True, False, True), (False, False, False), (True, True, False), (False, True, False)],
)
def test_a_failed_build_is_retried_by_reporting_only_when_retryable_and_not_blocking(
    retryable: bool, blocking: bool, allowed: bool
) -> None:
    failed = snap(BuildStatus.failed, 25, StateStatus.failed, retryable, blocking)
    if allowed:
        outcome = sm.report_state(failed, Rules(), 0, StateStatus.in_progress)
        assert outcome.attempt == 2
        assert outcome.status is BuildStatus.in_progress
    else:
        with pytest.raises(Conflict, match="/resume"):
            sm.report_state(failed, Rules(), 30, StateStatus.in_progress)
    resumed = sm.start_resume(failed)
    assert resumed.attempt == 2
    assert resumed.status is BuildStatus.in_progress


def test_failures() -> None:
    assert sm.record_failure(snap(BuildStatus.pending, 0), Rules(), 0).status is BuildStatus.failed
    assert (
        sm.record_failure(snap(BuildStatus.in_progress, 25), Rules(), 25).status
        is BuildStatus.failed
    )
    with pytest.raises(Conflict, match="lower than the current state"):
        sm.record_failure(snap(BuildStatus.in_progress, 25), Rules(), 10)
    with pytest.raises(Conflict, match="already failed"):
        sm.record_failure(
            snap(BuildStatus.failed, 25, StateStatus.failed, True, False), Rules(), 25
        )


def test_resume_needs_a_started_build() -> None:
    with pytest.raises(Conflict, match="nothing to resume"):
        sm.start_resume(snap(BuildStatus.pending, 0))
    assert sm.start_resume(snap(BuildStatus.in_progress)).attempt == 2


def test_cancel_from_every_non_terminal_status() -> None:
    for status in (BuildStatus.pending, BuildStatus.in_progress, BuildStatus.failed):
        assert sm.cancel(snap(status)).status is BuildStatus.cancelled


def test_resume_point_with_project_codes() -> None:
    rules = Rules.of("p", [(c, False) for c in (0, 10, 25, 50, 100)])
    point = sm.resume_point(rules, 10, [0, 10, 25])
    assert (point.from_state, point.next_state, point.skipped) == (10, 25, [0, 10])
    assert sm.resume_point(rules, 100, []).next_state is None
    start = sm.resume_point(rules, None, [0, 10])
    assert (start.from_state, start.next_state, start.skipped) == (None, 0, [])


def test_resume_point_without_project_codes_reads_the_history() -> None:
    point = sm.resume_point(Rules(), 10, [0, 5, 10, 25])
    assert (point.from_state, point.next_state, point.skipped) == (10, 25, [0, 5, 10])
    assert sm.resume_point(Rules(), 25, [0, 10, 25]).next_state is None


def test_a_frozen_build_is_409_even_for_an_undefined_code() -> None:
    rules = Rules.of("p", [(0, False), (100, False)])
    with pytest.raises(Conflict, match="is completed"):
        sm.report_state(snap(BuildStatus.completed, 100), rules, 15, StateStatus.in_progress)
    with pytest.raises(Conflict, match="is cancelled"):
        sm.record_failure(snap(BuildStatus.cancelled, 100), rules, 15)


@pytest.mark.parametrize("status", list(BuildStatus))
def test_a_report_naming_another_attempt_is_refused_first(status: BuildStatus) -> None:
    """Fencing comes before every other rule: a superseded worker is told so, whatever
    the build's state; naming the current attempt changes nothing."""
    at_3 = Snapshot("b1", status, 25, 3, StateStatus.in_progress, True, False)
    rules = Rules.of("p", [(0, False), (100, False)])
    for attempt, says in ((2, "is no longer current"), (4, "has not started")):
        message = f"attempt {attempt} of build b1 {says}: the current attempt is 3"
        with pytest.raises(Conflict, match=message):
            sm.report_state(at_3, rules, 15, StateStatus.in_progress, attempt)
        with pytest.raises(Conflict, match=message):
            sm.record_failure(at_3, rules, 15, attempt)
    # Naming the current attempt is the same as naming none.
    report = (at_3, Rules(), 30, StateStatus.in_progress)
    assert _result(sm.report_state, *report, 3) == _result(sm.report_state, *report)
    failure = (at_3, Rules(), 30)
    assert _result(sm.record_failure, *failure, 3) == _result(sm.record_failure, *failure)


def _result(rule: Any, *args: Any) -> object:
    """The rule's outcome, or the detail of its refusal."""
    try:
        return rule(*args)
    except Conflict as exc:
        return exc.detail


def test_a_live_attempt_is_resumed_only_when_forced() -> None:
    def running(idle: float) -> Snapshot:
        return Snapshot("b1", BuildStatus.in_progress, 25, 2, None, idle_seconds=idle)

    with pytest.raises(Conflict, match="in progress in attempt 2, last active 299 s ago"):
        sm.start_resume(running(299.4), live_seconds=300)
    assert sm.start_resume(running(299.4), live_seconds=300, force=True).attempt == 3
    assert sm.start_resume(running(300), live_seconds=300).attempt == 3
    assert sm.start_resume(running(0), live_seconds=0).attempt == 3
    failed = Snapshot("b1", BuildStatus.failed, 25, 2, StateStatus.failed, True, False)
    assert not failed.live(300)  # a failed attempt is never live
    assert sm.start_resume(failed, live_seconds=300).attempt == 3


def test_a_resume_expecting_another_attempt_changes_nothing() -> None:
    failed = Snapshot("b1", BuildStatus.failed, 25, 2, StateStatus.failed, True, False)
    with pytest.raises(Conflict, match="at attempt 2 \\(failed\\), not at the expected attempt 1"):
        sm.start_resume(failed, expected_attempt=1, force=True)
    assert sm.start_resume(failed, expected_attempt=2).attempt == 3
