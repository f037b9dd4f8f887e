"""Shapes of the JSON the API returns.

These are ``TypedDict``s over the decoded JSON, not models: the SDK hands back exactly what
the server sent, and fields the server adds later simply appear. Every key is optional
because older servers may not send the additions described in ``docs/api-additions.md``.
"""

from __future__ import annotations

from typing import Any, TypedDict

JSONObject = dict[str, Any]


class TokenResponse(TypedDict, total=False):
    access_token: str
    token_type: str
    expires_in: int


class User(TypedDict, total=False):
    id: str
    username: str
    email: str | None
    scopes: list[str]
    is_active: bool
    created_at: str


class ApiToken(TypedDict, total=False):
    id: str
    name: str
    scopes: list[str]
    prefix: str
    token: str  # only in the response that creates it
    expires_at: str | None
    created_at: str
    revoked_at: str | None


class Failure(TypedDict, total=False):
    id: str
    build_id: str
    attempt: int
    state_code: int
    failure_type: str | None
    error_message: str
    error_details: JSONObject | None
    is_retryable: bool
    is_blocking: bool
    timestamp: str


class Build(TypedDict, total=False):
    id: str
    project_id: str
    platform_id: str
    os_version_id: str
    image_type_id: str
    build_number: str
    current_state: int
    status: str
    attempt: int
    created_by: str | None
    concourse_url: str | None
    labels: dict[str, str]
    build_metadata: JSONObject | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None  # when it became completed, failed or cancelled
    duration_seconds: float | None
    failures: list[Failure]  # only from GET /builds/{id}


class StateUpdate(TypedDict, total=False):
    build_id: str
    state_code: int
    status: str
    build_status: str
    attempt: int
    message: str | None
    artifact_storage_type: str | None
    artifact_storage_path: str | None
    artifact_size_bytes: int | None
    artifact_checksum: str | None
    artifact_metadata: JSONObject | None
    timestamp: str


class StateHistoryEntry(TypedDict, total=False):
    state_code: int
    status: str
    attempt: int
    message: str | None
    timestamp: str
    duration_seconds: float | None


class BuildStateView(TypedDict, total=False):
    build_id: str
    current_state: int
    status: str
    attempt: int
    last_updated: str
    history: list[StateHistoryEntry]


class Artifact(TypedDict, total=False):
    id: str
    build_id: str
    attempt: int
    state_code: int
    is_checkpoint: bool
    storage_type: str | None
    storage_path: str
    size_bytes: int | None
    checksum: str | None
    metadata: JSONObject | None
    created_at: str


class ResumePlan(TypedDict, total=False):
    build_id: str
    status: str
    attempt: int
    can_resume: bool
    reason: str | None
    resume_from_state: int | None
    checkpoint: Artifact | None
    next_state: int | None
    skipped_states: list[int]


class DashboardSummary(TypedDict, total=False):
    total_builds: int
    active_builds: int
    completed_builds: int
    failed_builds: int
    cancelled_builds: int
    pending_builds: int
    platforms: int
    projects: int


class PlatformStats(TypedDict, total=False):
    platform_id: str
    total_builds: int
    by_status: dict[str, int]
    success_rate: float | None
    mean_duration_seconds: float | None
    p95_duration_seconds: float | None
    recent_builds: list[Build]
