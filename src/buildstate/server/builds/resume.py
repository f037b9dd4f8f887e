"""Resume: where a failed (or stuck) build starts its next attempt, and starting it.

A resume is fenced: it is refused while the current attempt is live (in progress and
changed within ``BUILDSTATE_RESUME_LIVE_SECONDS``) unless forced, and, given
``expected_attempt``, unless that attempt is still the current one. Concurrent resumes of
a failed build therefore start one attempt: the first makes the build in progress and
live, and the others are refused naming its attempt.
"""

from __future__ import annotations

from dataclasses import replace

from buildstate.server.builds import schemas as s
from buildstate.server.builds import statemachine as sm
from buildstate.server.builds import views
from buildstate.server.builds.models import Build
from buildstate.server.builds.repository import BuildRepository
from buildstate.server.builds.service import BuildService
from buildstate.server.builds.statemachine import BuildStatus, Snapshot, StateStatus
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Unprocessable


class ResumeService(BuildService):
    """:class:`BuildService` with the server's live period (seconds) for resumes."""

    def __init__(self, repo: BuildRepository, live_seconds: float) -> None:
        super().__init__(repo)
        self.live_seconds = live_seconds

    def resume_plan(self, build_id: str, from_state: int | None = None) -> s.ResumePlan:
        row = self._build(build_id)
        return self._plan(row, self._timed_snapshot(row), from_state, force=False)

    def resume(self, build_id: str, body: s.ResumeRequest) -> s.ResumePlan:
        row = self._build(build_id, for_update=True)
        snap = self._timed_snapshot(row)
        outcome = sm.start_resume(
            snap,
            live_seconds=self.live_seconds,
            force=body.force,
            expected_attempt=body.expected_attempt,
        )
        plan = self._plan(row, snap, body.from_state, force=body.force)
        # From the checkpoint; without one, from the first state (the project's, if defined).
        start = plan.checkpoint.state_code if plan.checkpoint else (plan.next_state or 0)
        where = (
            f"checkpoint at state {start}" if plan.checkpoint else "the beginning (no checkpoint)"
        )
        message = body.message or f"Resumed from {where}; attempt {row.attempt} ended"
        self._append(
            row,
            outcome,
            start,
            StateStatus.in_progress,
            message,
            {
                "resumed_from_attempt": row.attempt,
                "checkpoint_artifact_id": plan.checkpoint.id if plan.checkpoint else None,
            },
        )
        return plan.model_copy(update={"status": BuildStatus(row.status), "attempt": row.attempt})

    def _timed_snapshot(self, row: Build) -> Snapshot:
        """The snapshot, with the seconds since the build last changed (never below 0:
        replicas' clocks may differ a little)."""
        idle = max(0.0, (utcnow() - row.updated_at).total_seconds())
        return replace(self._snapshot(row), idle_seconds=idle)

    def _plan(
        self, row: Build, snap: Snapshot, from_state: int | None, *, force: bool
    ) -> s.ResumePlan:
        checkpoints = self.repo.artifacts(row.id, checkpoints_only=True)
        if from_state is not None:
            matching = [c for c in checkpoints if c.state_code == from_state]
            if not matching and from_state != 0:
                have = sorted({c.state_code for c in checkpoints})
                raise Unprocessable(
                    f"build {row.id} has no checkpoint at state {from_state}; checkpoints: "
                    f"{', '.join(map(str, have)) or 'none'} (or 0 to start over)"
                )
            checkpoints = matching
        best = max(checkpoints, key=lambda c: (c.state_code, c.id), default=None)
        point = sm.resume_point(
            self._rules(row),
            best.state_code if best else None,
            self.repo.reported_codes(row.id),
        )
        status = snap.status
        live = not force and snap.live(self.live_seconds)
        can = status in (BuildStatus.failed, BuildStatus.in_progress) and not live
        if status is BuildStatus.pending:
            reason = "the build has not started; there is nothing to resume"
        elif live:
            reason = sm.live_refusal(snap, self.live_seconds)
        elif not can:
            reason = f"the build is {status.value}; it cannot be resumed"
        elif best is None:
            reason = "no checkpoint yet: a resume starts from the beginning"
        else:
            reason = (
                f"resume from the checkpoint of state {best.state_code} (attempt {best.attempt})"
            )
        return s.ResumePlan(
            build_id=row.id,
            status=status,
            attempt=row.attempt,
            can_resume=can,
            reason=reason,
            resume_from_state=point.from_state,
            checkpoint=views.artifact(best) if best else None,
            next_state=point.next_state,
            skipped_states=point.skipped,
        )
