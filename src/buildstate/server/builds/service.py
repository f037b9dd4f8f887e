"""Builds: creation, state reports, failures and cancel (resume: :mod:`resume`).

Every change to a build happens here, under the build's row lock, in the request's one
transaction, together with the history row it appends and the counters it moves.
The rules themselves live in :mod:`statemachine`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from buildstate.server.auth.principal import Principal
from buildstate.server.builds import schemas as s
from buildstate.server.builds import statemachine as sm
from buildstate.server.builds import views
from buildstate.server.builds.models import (
    Build,
    BuildArtifact,
    BuildFailure,
    BuildLabel,
    BuildState,
)
from buildstate.server.builds.repository import REFERENCES, BuildFilters, BuildRepository
from buildstate.server.builds.statemachine import (
    ACTIVE,
    BuildStatus,
    Outcome,
    Rules,
    Snapshot,
    StateStatus,
)
from buildstate.server.db.rows import record
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Conflict, NotFound

_STATE_STATUSES = frozenset(s.value for s in StateStatus)


class BuildService:
    def __init__(self, repo: BuildRepository) -> None:
        self.repo = repo

    # -- reads -------------------------------------------------------------------------
    # Reads named *_json return the response body itself, built without a model (the
    # measured hot reads); the others return models.
    def get_json(self, build_id: str) -> bytes:
        """``BuildDetail`` as JSON."""
        row = self.repo.row(build_id)
        if row is None:
            raise self._missing(build_id)
        failures = [views.failure_fields(f) for f in self.repo.failures(build_id)]
        return views.to_json({**views.build_fields(row), "failures": failures})

    def search_json(self, filters: BuildFilters, skip: int, limit: int) -> tuple[views.Page, int]:
        """A page of ``Build`` as a JSON list (within the page's byte budget), and the
        total matching count."""
        now = utcnow()
        page = self.repo.search_json(filters, skip, limit, now)
        if filters.counted:
            counts = self.repo.counts(filters.platform_id, project_id=filters.project_id)
            total = counts.get(filters.status, 0) if filters.status else sum(counts.values())
        else:
            total = self.repo.count(filters)
        return page, total

    def state(self, build_id: str) -> s.BuildStateView:
        row = self._build(build_id)
        return views.history(row, self.repo.history(build_id))

    def artifacts(self, build_id: str) -> list[s.Artifact]:
        self._build(build_id)
        return [views.artifact(a) for a in self.repo.artifacts(build_id)]

    # -- writes ------------------------------------------------------------------------
    def create(self, body: s.BuildCreate, by: Principal) -> s.Build:
        active = self.repo.references({field: getattr(body, field) for field, _ in REFERENCES})
        for field, spec in REFERENCES:
            if not active[field]:
                state = "not found" if active[field] is None else "is deactivated"
                entry_id = getattr(body, field)
                raise NotFound(f"{field}: {spec.label} with id {entry_id!r} {state}")
        taken = Conflict(
            f"build number {body.build_number!r} already exists in project {body.project_id!r}"
        )
        if self.repo.number_taken(body.project_id, body.build_number):
            raise taken
        now = utcnow()
        row = record(
            Build,
            id=str(uuid.uuid4()),
            **body.model_dump(exclude={"created_by"}),
            created_by=body.created_by or by.actor,
            status=BuildStatus.pending,
            current_state=0,
            attempt=1,
            created_at=now,
            updated_at=now,
        )
        labels = [
            record(BuildLabel, build_id=row.id, key=k, value=v) for k, v in body.labels.items()
        ]
        first = record(
            BuildState,
            build_id=row.id,
            attempt=1,
            state_code=0,
            status=StateStatus.pending,
            message="Build created",
            created_at=now,
        )
        try:
            self.repo.add(row)
        except IntegrityError:  # a concurrent create with the same number won the race
            raise taken from None
        self.repo.add(first, *labels)
        self.repo.count_new(row)
        return views.build(row)

    def report_state(self, build_id: str, body: s.StateReport) -> s.StateReported:
        row = self._build(build_id, for_update=True)
        rules = self._rules(row)
        outcome = sm.report_state(
            self._snapshot(row), rules, body.state_code, body.status, body.attempt
        )
        state = self._append(
            row, outcome, body.state_code, body.status, body.message, body.metadata
        )
        artifact = None
        if body.has_artifact:
            artifact = record(
                BuildArtifact,
                build_id=row.id,
                state_id=state.id,
                attempt=state.attempt,
                state_code=state.state_code,
                is_checkpoint=body.status is StateStatus.completed,
                storage_type=body.artifact_storage_type,
                storage_path=body.artifact_storage_path,
                size_bytes=body.artifact_size_bytes,
                checksum=body.artifact_checksum,
                artifact_metadata=body.artifact_metadata,
                created_at=state.created_at,
            )
            self.repo.add(artifact)
        if body.status is StateStatus.failed:
            self._add_failure(
                row,
                state,
                rules,
                message=body.message or f"reported failed at state {body.state_code}",
                retryable=True,
                failure_type=None,
                details=None,
            )
        return views.state_reported(row, state, artifact)

    def record_failure(self, build_id: str, body: s.FailureReport) -> s.Failure:
        row = self._build(build_id, for_update=True)
        rules = self._rules(row)
        outcome = sm.record_failure(self._snapshot(row), rules, body.state_code, body.attempt)
        state = self._append(
            row, outcome, body.state_code, StateStatus.failed, body.error_message, None
        )
        failure = self._add_failure(
            row,
            state,
            rules,
            message=body.error_message,
            retryable=body.is_retryable,
            failure_type=body.failure_type,
            details=body.error_details,
        )
        return views.failure(failure)

    def cancel(self, build_id: str, body: s.CancelRequest) -> s.Build:
        row = self._build(build_id, for_update=True)
        outcome = sm.cancel(self._snapshot(row))
        self._append(row, outcome, row.current_state, "cancelled", body.reason or "Cancelled", None)
        return views.build(row)

    # -- helpers -----------------------------------------------------------------------
    def _build(self, build_id: str, *, for_update: bool = False) -> Build:
        row = self.repo.get(build_id, for_update=for_update)
        if row is None:
            raise self._missing(build_id)
        return row

    @staticmethod
    def _missing(build_id: str) -> NotFound:
        return NotFound(f"Build with id {build_id!r} not found")

    def _rules(self, row: Build) -> Rules:
        return Rules.of(row.project_id, self.repo.project_codes(row.project_id))

    def _snapshot(self, row: Build) -> Snapshot:
        last = self.repo.last_state_status(row.id)
        retryable = blocking = None
        if row.status == BuildStatus.failed:
            failure = self.repo.last_failure(row.id)
            if failure is not None:
                retryable, blocking = failure.is_retryable, failure.is_blocking
        return Snapshot(
            build_id=row.id,
            status=BuildStatus(row.status),
            current_state=row.current_state,
            attempt=row.attempt,
            last_state_status=StateStatus(last) if last in _STATE_STATUSES else None,
            last_failure_retryable=retryable,
            last_failure_blocking=blocking,
        )

    def _append(
        self,
        row: Build,
        outcome: Outcome,
        code: int,
        status: str,
        message: str | None,
        metadata: dict[str, object] | None,
    ) -> BuildState:
        """Append the history row and move the build (and its counters) to ``outcome``."""
        now = utcnow()
        state = record(
            BuildState,
            build_id=row.id,
            attempt=outcome.attempt,
            state_code=code,
            status=str(status),
            message=message,
            state_metadata=metadata,
            created_at=now,
        )
        self.repo.add(state)
        if outcome.status != row.status:
            self.repo.move_counters(row, row.status, outcome.status)
        started = outcome.status is BuildStatus.in_progress and row.started_at is None
        self.repo.update(
            row,
            status=outcome.status,
            current_state=code,
            attempt=outcome.attempt,
            updated_at=now,
            started_at=now if started else row.started_at,
            finished_at=None if outcome.status in ACTIVE else now,
        )
        return state

    def _add_failure(
        self,
        row: Build,
        state: BuildState,
        rules: Rules,
        *,
        message: str,
        retryable: bool,
        failure_type: str | None,
        details: dict[str, object] | None,
    ) -> BuildFailure:
        failure = record(
            BuildFailure,
            build_id=row.id,
            state_id=state.id,
            attempt=state.attempt,
            state_code=state.state_code,
            failure_type=failure_type,
            error_message=message,
            error_details=details,
            is_retryable=retryable,
            is_blocking=state.state_code in rules.blocking,
            created_at=state.created_at,
        )
        self.repo.add(failure)
        return failure
