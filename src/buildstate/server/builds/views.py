"""Rows → response bodies (kept apart so that the service reads as rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import Row

from buildstate.server.builds import schemas as s
from buildstate.server.builds.models import Build, BuildArtifact, BuildFailure, BuildState
from buildstate.server.builds.statemachine import ACTIVE, BuildStatus, StateStatus
from buildstate.server.db.sql import SqlDialect
from buildstate.server.db.types import utcnow

B = TypeVar("B", bound=s.Build)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` in whole milliseconds, half up, never negative
    (integer arithmetic, so that :func:`build_json` computes the same number)."""
    if start is None or end is None:
        return None
    micros = max(0, (end - start) // _MICROSECOND)
    return (micros + 500) // 1000 / 1000


_MICROSECOND = timedelta(microseconds=1)


def build_fields(row: Build | Row[Any], now: datetime | None = None) -> dict[str, Any]:
    """A build (ORM object or row of ``builds``) as the fields of ``s.Build``; the
    duration of a running build is counted up to ``now`` (default: this moment)."""
    running = row.status in ACTIVE
    end = (now or utcnow()) if running else row.finished_at
    return {
        "id": row.id,
        "project_id": row.project_id,
        "platform_id": row.platform_id,
        "os_version_id": row.os_version_id,
        "image_type_id": row.image_type_id,
        "build_number": row.build_number,
        "current_state": row.current_state,
        "status": row.status,
        "attempt": row.attempt,
        "created_by": row.created_by,
        "concourse_url": row.concourse_url,
        "labels": row.labels or {},
        "build_metadata": row.build_metadata or {},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_seconds": _seconds(row.started_at, end),
    }


_RUNNING = ", ".join(f"'{status}'" for status in sorted(ACTIVE))
_END = f"CASE WHEN status IN ({_RUNNING}) THEN :now ELSE finished_at END"
_COLUMNS = {
    name: name
    for name in (
        *("id", "project_id", "platform_id", "os_version_id", "image_type_id"),
        *("build_number", "current_state", "status", "attempt", "created_by", "concourse_url"),
    )
}
_TIMES = ("created_at", "updated_at", "started_at", "finished_at")


def build_json(sql: SqlDialect) -> str:
    """:func:`build_fields`, computed by the database in ``sql``'s dialect: a row of
    ``builds`` as one JSON object, with running builds' durations counted up to the bound
    parameter ``now``. A page of a hundred builds costs the database a fraction of what
    building it in Python does. The two are equal as JSON (tests/server/test_views.py);
    the text may differ where JSON allows (SQLite keeps stored escapes, ``"\\u00e9"`` for
    ``"é"``; PostgreSQL writes a space after the colons and commas of labels and metadata).
    """
    return sql.json_object(
        {
            **_COLUMNS,
            "labels": sql.json_or_empty("labels"),
            "build_metadata": sql.json_or_empty("build_metadata"),
            **{name: sql.api_time(name) for name in _TIMES},
            "duration_seconds": sql.seconds_between("started_at", _END),
        }
    )


class Page(NamedTuple):
    """A page of builds as a JSON array (``body``), the number of builds in it, and
    whether its byte budget left out builds that the page asked for (``cut``)."""

    body: bytes
    builds: int
    cut: bool

    def next_skip(self, skip: int) -> dict[str, str]:
        """The header that says where a page cut short by its budget continues."""
        return {"X-Next-Skip": str(skip + self.builds)} if self.cut else {}


# The bytes of build_json's keys, punctuation, times, numbers and ids (a UUID, and
# catalog ids of up to 64 bytes): a little more than either database writes.
_FIXED_BYTES = 1024
# What the build's creator wrote (the catalog ids are few, and short as a rule).
_TEXTS = ("build_number", "created_by", "concourse_url")


def build_json_bytes(sql: SqlDialect) -> str:
    """About the bytes of :func:`build_json`'s text, without building it: the creator's
    strings, the labels and the metadata as stored (never fewer bytes than written,
    unless a string holds control characters, which JSON escapes), the rest as
    :data:`_FIXED_BYTES`."""
    sizes = [
        str(_FIXED_BYTES),
        *(sql.byte_length(name) for name in _TEXTS),
        sql.json_bytes("labels"),
        sql.json_bytes("build_metadata"),
    ]
    return " + ".join(sizes)


def build(row: Build | Row[Any], model: type[B] = s.Build, **extra: Any) -> B:  # type: ignore[assignment]
    """``row`` as ``model`` (``Build``, or ``BuildDetail`` with ``failures=`` in ``extra``)."""
    return model(**build_fields(row), **extra)


def failure_fields(row: BuildFailure | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "build_id": row.build_id,
        "attempt": row.attempt,
        "state_code": row.state_code,
        "failure_type": row.failure_type,
        "error_message": row.error_message,
        "error_details": row.error_details,
        "is_retryable": row.is_retryable,
        "is_blocking": row.is_blocking,
        "timestamp": row.created_at,
    }


def failure(row: BuildFailure | Row[Any]) -> s.Failure:
    return s.Failure(**failure_fields(row))


def to_json(value: Any) -> bytes:
    """Fields from :func:`build_fields` and friends as JSON, exactly as the models would
    serialize them (UTC as ``Z``). For the hot reads: rows from our own database need no
    second validation, and building a model per row costs more than the query."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


def artifact(row: BuildArtifact) -> s.Artifact:
    return s.Artifact(
        id=row.id,
        build_id=row.build_id,
        attempt=row.attempt,
        state_code=row.state_code,
        is_checkpoint=row.is_checkpoint,
        storage_type=row.storage_type,
        storage_path=row.storage_path,
        size_bytes=row.size_bytes,
        checksum=row.checksum,
        metadata=row.artifact_metadata,
        created_at=row.created_at,
    )


def history(row: Build, states: list[BuildState]) -> s.BuildStateView:
    running = row.status in ACTIVE
    entries = []
    for i, state in enumerate(states):
        following = states[i + 1].created_at if i + 1 < len(states) else None
        end = following or (utcnow() if running else None)
        entries.append(
            s.HistoryEntry(
                state_code=state.state_code,
                status=state.status,
                attempt=state.attempt,
                message=state.message,
                timestamp=state.created_at,
                duration_seconds=_seconds(state.created_at, end),
            )
        )
    return s.BuildStateView(
        build_id=row.id,
        current_state=row.current_state,
        status=BuildStatus(row.status),
        attempt=row.attempt,
        last_updated=row.updated_at,
        history=entries,
    )


def state_reported(
    row: Build, state: BuildState, artifact_row: BuildArtifact | None
) -> s.StateReported:
    return s.StateReported(
        build_id=row.id,
        state_code=state.state_code,
        status=StateStatus(state.status),
        message=state.message,
        metadata=state.state_metadata,
        artifact_storage_type=artifact_row.storage_type if artifact_row else None,
        artifact_storage_path=artifact_row.storage_path if artifact_row else None,
        artifact_size_bytes=artifact_row.size_bytes if artifact_row else None,
        artifact_checksum=artifact_row.checksum if artifact_row else None,
        artifact_metadata=artifact_row.artifact_metadata if artifact_row else None,
        attempt=state.attempt,
        build_status=BuildStatus(row.status),
        timestamp=state.created_at,
    )
