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
   checkpoint, at the project's first state). An in-progress build whose last activity is
   recent (its attempt is *live*) is resumed only when forced.
7. A failure is accepted from a pending or in-progress build at or above its current state.
8. Fencing: a state report or failure that names its attempt is accepted only while that
   attempt is the build's current one (a report naming the current attempt of a failed
   build may still start the next attempt, as in rule 5). A resume that names the attempt
   it expects to supersede happens only if that attempt is still the current one.
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
    idle_seconds: float = 0.0  # since the build's last change (``updated_at``)

    def live(self, live_seconds: float) -> bool:
        """Whether the current attempt is running and was heard from within
        ``live_seconds``: a resume would run beside it."""
        return self.status is BuildStatus.in_progress and self.idle_seconds < live_seconds


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


def _check_attempt(snap: Snapshot, attempt: int | None) -> None:
    """Fencing (rule 8): a report naming ``attempt`` is taken only while it is current.

    A number above the current attempt is refused with 409 too, not 422: the request is
    well formed, it is the build's state that makes it unacceptable (the same number is
    accepted once a resume starts that attempt), and a worker treats both alike: stop."""
    if attempt is None or attempt == snap.attempt:
        return
    current = f"the current attempt is {snap.attempt} (build {snap.status.value})"
    if attempt < snap.attempt:
        raise Conflict(
            f"attempt {attempt} of build {snap.build_id} is no longer current: {current}; "
            f"a worker of attempt {attempt} must stop reporting"
        )
    raise Conflict(
        f"attempt {attempt} of build {snap.build_id} has not started: {current}; send the "
        "attempt that the resume (or the last state report) returned"
    )


def report_state(
    snap: Snapshot, rules: Rules, code: int, status: StateStatus, attempt: int | None = None
) -> Outcome:
    _check_attempt(snap, attempt)
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


def record_failure(snap: Snapshot, rules: Rules, code: int, attempt: int | None = None) -> Outcome:
    _check_attempt(snap, attempt)
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


def start_resume(
    snap: Snapshot,
    *,
    live_seconds: float = 0.0,
    force: bool = False,
    expected_attempt: int | None = None,
) -> Outcome:
    """The next attempt, unless the build is frozen or pending, the current attempt is not
    ``expected_attempt``, or it is live (see :meth:`Snapshot.live`) and not ``force``d."""
    if expected_attempt is not None and expected_attempt != snap.attempt:
        raise Conflict(
            f"build {snap.build_id} is at attempt {snap.attempt} ({snap.status.value}), not "
            f"at the expected attempt {expected_attempt}: it was resumed or retried "
            "meanwhile; nothing was changed"
        )
    if snap.status in FROZEN:
        raise _frozen(snap)
    if snap.status is BuildStatus.pending:
        raise Conflict(
            f"build {snap.build_id} has not started; there is nothing to resume "
            "(report its first state instead)"
        )
    if not force and snap.live(live_seconds):
        raise Conflict(live_refusal(snap, live_seconds))
    return Outcome(BuildStatus.in_progress, snap.attempt + 1)


def live_refusal(snap: Snapshot, live_seconds: float) -> str:
    """Why a live attempt is not resumed without ``force``, and what would be accepted."""
    return (
        f"build {snap.build_id} is in progress in attempt {snap.attempt}, last active "
        f"{snap.idle_seconds:.0f} s ago (live for {live_seconds:g} s after its last "
        "activity): a resume would run a second worker beside it. Resume once it has been "
        f'idle that long, or send "force": true to supersede attempt {snap.attempt}'
    )


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
