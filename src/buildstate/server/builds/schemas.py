"""Request and response bodies of the builds API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictInt, model_validator

from buildstate.server.builds.statemachine import BuildStatus, StateStatus
from buildstate.server.catalog.schemas import Strict
from buildstate.server.validation import (
    BigCount,
    JsonObject,
    LongText,
    Name,
    ShortText,
    StateCode,
    StringMap,
)

Attempt = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
_FENCE = (
    "The attempt this report belongs to (optional): the `attempt` that `POST /resume` (or "
    "the previous report) returned. When given, the report is accepted only while that "
    "attempt is the build's current one, so a worker left on a superseded attempt cannot "
    "write into the newest; otherwise 409, naming the current attempt (also for a number "
    "above it, which has not started). Left out: no check."
)


class BuildCreate(Strict):
    project_id: Name
    platform_id: Name
    os_version_id: Name
    image_type_id: Name
    build_number: Name = Field(examples=["2024.02.001"], description="Unique within the project.")
    created_by: ShortText | None = Field(None, examples=["jenkins-pipeline"])
    concourse_url: LongText | None = Field(None, max_length=2048)
    labels: StringMap = Field(default_factory=dict, examples=[{"cloud": "aws", "team": "core"}])
    build_metadata: JsonObject = Field(default_factory=dict)


class Failure(BaseModel):
    id: int
    build_id: str
    attempt: int
    state_code: int
    failure_type: str | None
    error_message: str
    error_details: dict[str, Any] | None
    is_retryable: bool
    is_blocking: bool
    timestamp: datetime


class Build(BaseModel):
    id: str
    project_id: str
    platform_id: str
    os_version_id: str
    image_type_id: str
    build_number: str
    current_state: int
    status: BuildStatus
    attempt: int
    created_by: str | None
    concourse_url: str | None
    labels: dict[str, str]
    build_metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None = Field(
        description="When it became completed, failed or cancelled."
    )
    duration_seconds: float | None = Field(
        description="From start to finish (or to now while it runs)."
    )


class BuildDetail(Build):
    failures: list[Failure]


class StateReport(Strict):
    state_code: StateCode
    status: StateStatus = Field(
        description="`completed` at the final state completes the build; `completed` with an "
        "artifact makes a checkpoint."
    )
    message: LongText | None = None
    metadata: JsonObject | None = None
    artifact_storage_type: ShortText | None = Field(None, examples=["s3"])
    artifact_storage_path: LongText | None = Field(None, max_length=4096)
    artifact_size_bytes: BigCount | None = None
    artifact_checksum: ShortText | None = Field(None, examples=["sha256:abcdef…"])
    artifact_metadata: JsonObject | None = None
    attempt: Attempt | None = Field(None, description=_FENCE, examples=[2])

    @property
    def has_artifact(self) -> bool:
        return self.artifact_storage_path is not None

    @model_validator(mode="after")
    def _artifact_needs_a_path(self) -> StateReport:
        given = [
            name
            for name in (
                "artifact_storage_type",
                "artifact_size_bytes",
                "artifact_checksum",
                "artifact_metadata",
            )
            if getattr(self, name) is not None
        ]
        if given and self.artifact_storage_path is None:
            raise ValueError(
                f"artifact_storage_path is required with {', '.join(given)}: an artifact "
                "is registered by where it lives"
            )
        return self


class StateReported(BaseModel):
    build_id: str
    state_code: int
    status: StateStatus
    message: str | None
    metadata: dict[str, Any] | None
    artifact_storage_type: str | None
    artifact_storage_path: str | None
    artifact_size_bytes: int | None
    artifact_checksum: str | None
    artifact_metadata: dict[str, Any] | None
    attempt: int = Field(
        description="The attempt the state was recorded in: the one to name from now on "
        "(a report that retries a failed build starts the next attempt)."
    )
    build_status: BuildStatus
    timestamp: datetime


class FailureReport(Strict):
    state_code: StateCode
    error_message: LongText = Field(min_length=1)
    error_details: JsonObject | None = None
    is_retryable: bool = True
    failure_type: ShortText | None = Field(None, examples=["PACKER_TIMEOUT"])
    attempt: Attempt | None = Field(None, description=_FENCE, examples=[2])


class HistoryEntry(BaseModel):
    state_code: int
    status: str
    attempt: int
    message: str | None
    timestamp: datetime
    duration_seconds: float | None = Field(
        description="Time until the next entry (or until now for the latest of a running build)."
    )


class BuildStateView(BaseModel):
    build_id: str
    current_state: int
    status: BuildStatus
    attempt: int
    last_updated: datetime
    history: list[HistoryEntry]


class Artifact(BaseModel):
    id: int
    build_id: str
    attempt: int
    state_code: int
    is_checkpoint: bool
    storage_type: str | None
    storage_path: str | None
    size_bytes: int | None
    checksum: str | None
    metadata: dict[str, Any] | None
    created_at: datetime


class ResumeRequest(Strict):
    from_state: StateCode | None = Field(
        None, description="Resume from this checkpoint instead of the latest one."
    )
    message: LongText | None = None
    force: bool = Field(
        False,
        description="Resume even though the current attempt is live (in progress and active "
        "within the server's `BUILDSTATE_RESUME_LIVE_SECONDS`, 300 by default): its worker "
        "is superseded, and its further reports that name their attempt get 409.",
    )
    expected_attempt: Attempt | None = Field(
        None,
        description="Resume only if the build's current attempt is this one; otherwise 409 "
        "and nothing changes. Makes a retried resume safe: it never starts a second attempt.",
        examples=[1],
    )


class ResumePlan(BaseModel):
    build_id: str
    status: BuildStatus
    attempt: int = Field(
        description="The current attempt; after `POST /resume`, the new one: the attempt to "
        "name in the new worker's reports."
    )
    can_resume: bool = Field(
        description="Whether `POST /resume` without `force` would start a new attempt: the "
        "build is failed, or in progress with no activity for the live period."
    )
    reason: str
    resume_from_state: int | None = Field(description="The checkpoint's state; null = start over.")
    checkpoint: Artifact | None
    next_state: int | None
    skipped_states: list[int]


class CancelRequest(Strict):
    reason: LongText | None = None
