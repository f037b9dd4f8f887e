"""The rules of a build's life, in one place. Pure functions: no database, no HTTP.

A build has a ``status`` and a ``current_state`` (a code 0–100) and runs in numbered
*attempts*. The rules (also in the README, "The state machine"):

1. Codes are 0–100; when the project defines state codes, only those.
2. Within an attempt the code never goes down, and a state reported ``completed`` cannot
   be reported again as ``pending``/``in_progress``.
3. ``completed`` and ``cancelled`` builds are frozen: they accept nothing more.
4. A state reported ``completed`` at the final state (the project's highest code, else
   100) completes the build. A ``pending`` report leaves a pending build pending; any
   other report makes it ``in_progress``; a report with status ``failed`` fails it like
   ``POST /failure`` would.
5. A ``failed`` build accepts a state report only when its last failure was retryable and
   not at a blocking state: the report then starts the next attempt (a pipeline that
   simply retries needs no extra call). Otherwise it needs ``POST /resume``.
6. Resume (failed or in-progress builds) starts the next attempt at the last checkpoint:
   the highest state that was reported ``completed`` with an artifact (or, with no
   checkpoint, at the project's first state).
7. A failure is accepted from a pending or in-progress build at or above its current state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from buildstate.server.errors import Conflict, Unprocessable

MAX_STATE = 100


class BuildStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class StateStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"


FROZEN = frozenset({BuildStatus.completed, BuildStatus.cancelled})
ACTIVE = frozenset({BuildStatus.pending, BuildStatus.in_progress})


@dataclass(frozen=True)
class Rules:
    """What a build's project allows: its defined codes (``None`` = any 0–100)."""

    project_id: str = ""
    codes: tuple[int, ...] | None = None
    blocking: frozenset[int] = frozenset()

    @classmethod
    def of(cls, project_id: str, definitions: Sequence[tuple[int, bool]]) -> Rules:
        if not definitions:
            return cls(project_id)
        return cls(
            project_id,
            codes=tuple(sorted(code for code, _ in definitions)),
            blocking=frozenset(code for code, blocking in definitions if blocking),
        )

    @property
    def final_state(self) -> int:
        return self.codes[-1] if self.codes else MAX_STATE

    def check_code(self, code: int) -> None:
        if self.codes is not None and code not in self.codes:
            allowed = ", ".join(map(str, self.codes))
            raise Unprocessable(
                f"state code {code} is not defined for project {self.project_id!r}; "
                f"allowed codes: {allowed}"
            )


@dataclass(frozen=True)
class Snapshot:
    """What the rules need to know about a build right now."""

    build_id: str
    status: BuildStatus
    current_state: int
    attempt: int
    last_state_status: StateStatus | None  # of the newest history row
    last_failure_retryable: bool | None = None  # of the newest failure, if failed
    last_failure_blocking: bool | None = None


@dataclass(frozen=True)
class Outcome:
    status: BuildStatus
    attempt: int


def _frozen(snap: Snapshot) -> Conflict:
    return Conflict(
        f"build {snap.build_id} is {snap.status.value}; it accepts no more states, "
        "failures or resumes"
    )


def _resume_hint(snap: Snapshot) -> str:
    return f"POST /builds/{snap.build_id}/resume to start attempt {snap.attempt + 1}"


def report_state(snap: Snapshot, rules: Rules, code: int, status: StateStatus) -> Outcome:
    if snap.status in FROZEN:
        raise _frozen(snap)
    rules.check_code(code)
    attempt = snap.attempt
    if snap.status is BuildStatus.failed:
        if not snap.last_failure_retryable or snap.last_failure_blocking:
            why = "at a blocking state" if snap.last_failure_blocking else "non-retryably"
            raise Conflict(
                f"build {snap.build_id} failed {why} at state {snap.current_state}; "
                f"{_resume_hint(snap)} before reporting states"
            )
        attempt = snap.attempt + 1  # a plain retry: the next attempt
    elif code < snap.current_state:
        raise Conflict(
            f"state {code} is lower than the current state {snap.current_state} of attempt "
            f"{snap.attempt}; report {snap.current_state} or higher (a new attempt starts "
            "lower only through resume)"
        )
    elif (
        code == snap.current_state
        and snap.last_state_status is StateStatus.completed
        and status in (StateStatus.pending, StateStatus.in_progress)
    ):
        raise Conflict(
            f"state {code} is already completed in attempt {snap.attempt}; report a higher "
            f"state (or {code} as completed again)"
        )
    if status is StateStatus.failed:
        return Outcome(BuildStatus.failed, attempt)
    if status is StateStatus.completed and code == rules.final_state:
        return Outcome(BuildStatus.completed, attempt)
    if status is StateStatus.pending and snap.status is BuildStatus.pending:
        return Outcome(BuildStatus.pending, attempt)
    return Outcome(BuildStatus.in_progress, attempt)


def record_failure(snap: Snapshot, rules: Rules, code: int) -> Outcome:
    if snap.status in FROZEN:
        raise _frozen(snap)
    rules.check_code(code)
    if snap.status is BuildStatus.failed:
        raise Conflict(
            f"build {snap.build_id} has already failed in attempt {snap.attempt}; "
            f"{_resume_hint(snap)}, or report a state to retry"
        )
    if code < snap.current_state:
        raise Conflict(
            f"failure at state {code} is lower than the current state {snap.current_state}; "
            f"report it at state {snap.current_state} or higher"
        )
    return Outcome(BuildStatus.failed, snap.attempt)


def start_resume(snap: Snapshot) -> Outcome:
    if snap.status in FROZEN:
        raise _frozen(snap)
    if snap.status is BuildStatus.pending:
        raise Conflict(
            f"build {snap.build_id} has not started; there is nothing to resume "
            "(report its first state instead)"
        )
    return Outcome(BuildStatus.in_progress, snap.attempt + 1)


def cancel(snap: Snapshot) -> Outcome:
    if snap.status in FROZEN:
        raise Conflict(
            f"build {snap.build_id} is already {snap.status.value}; only pending, in-progress "
            "or failed builds can be cancelled"
        )
    return Outcome(BuildStatus.cancelled, snap.attempt)


@dataclass(frozen=True)
class ResumePoint:
    from_state: int | None  # None: no checkpoint, start from the beginning
    next_state: int | None
    skipped: list[int]


def resume_point(
    rules: Rules, checkpoint_code: int | None, reported_codes: Sequence[int]
) -> ResumePoint:
    """Where a resumed attempt starts, what it runs next and what it skips.

    With defined project codes the answer is exact; without, it is read from the codes the
    build has reported so far.
    """
    known = sorted(set(rules.codes if rules.codes is not None else reported_codes))
    if checkpoint_code is None:
        return ResumePoint(None, known[0] if known else 0, [])
    later = [c for c in known if c > checkpoint_code]
    skipped = [c for c in known if c <= checkpoint_code]
    return ResumePoint(checkpoint_code, later[0] if later else None, skipped)
