from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from buildstate.server.db.base import Base
from buildstate.server.db.types import AutoId, JSONType, UTCDateTime, utcnow


class Build(Base):
    __tablename__ = "builds"
    # Every list filter has an index ending in (created_at, id): the newest-first order
    # the API returns, so SQLite and PostgreSQL read the first page without sorting.
    __table_args__ = (
        UniqueConstraint("project_id", "build_number"),
        Index("ix_builds_created", "created_at", "id"),
        Index("ix_builds_project_created", "project_id", "created_at", "id"),
        Index("ix_builds_status_created", "status", "created_at", "id"),
        Index("ix_builds_project_status_created", "project_id", "status", "created_at", "id"),
        Index("ix_builds_platform_created", "platform_id", "created_at", "id"),
        Index("ix_builds_platform_status_created", "platform_id", "status", "created_at", "id"),
        Index("ix_builds_platform_status_finished", "platform_id", "status", "finished_at"),
        Index("ix_builds_os_version_created", "os_version_id", "created_at", "id"),
        Index("ix_builds_image_type_created", "image_type_id", "created_at", "id"),
        Index("ix_builds_build_number", "build_number", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"))
    os_version_id: Mapped[str] = mapped_column(ForeignKey("os_versions.id"))
    image_type_id: Mapped[str] = mapped_column(ForeignKey("image_types.id"))
    build_number: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    current_state: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(255))
    concourse_url: Mapped[str | None] = mapped_column(String(2048))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    build_metadata: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BuildLabel(Base):
    """Labels again, one row each, so that ``?label=k=v`` filters use an index."""

    __tablename__ = "build_labels"
    __table_args__ = (Index("ix_build_labels_key_value", "key", "value"),)

    build_id: Mapped[str] = mapped_column(ForeignKey("builds.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class BuildState(Base):
    """One reported state: the build's append-only history."""

    __tablename__ = "build_states"
    __table_args__ = (Index("ix_build_states_build", "build_id", "id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(ForeignKey("builds.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    state_code: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    state_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BuildArtifact(Base):
    """An artifact registered with a state; with a ``completed`` state it is a checkpoint."""

    __tablename__ = "build_artifacts"
    __table_args__ = (
        Index("ix_build_artifacts_build", "build_id", "id"),
        Index("ix_build_artifacts_state", "state_id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(ForeignKey("builds.id"))
    state_id: Mapped[int] = mapped_column(ForeignKey("build_states.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    state_code: Mapped[int] = mapped_column(Integer)
    is_checkpoint: Mapped[bool] = mapped_column(Boolean)
    storage_type: Mapped[str | None] = mapped_column(String(64))
    storage_path: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(255))
    artifact_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BuildFailure(Base):
    __tablename__ = "build_failures"
    __table_args__ = (
        Index("ix_build_failures_build", "build_id", "id"),
        Index("ix_build_failures_state", "state_id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(ForeignKey("builds.id"))
    state_id: Mapped[int] = mapped_column(ForeignKey("build_states.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    state_code: Mapped[int] = mapped_column(Integer)
    failure_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_retryable: Mapped[bool] = mapped_column(Boolean)
    is_blocking: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BuildCounter(Base):
    """Builds per (platform, status), kept in step with every status change.

    The dashboard reads a handful of these rows instead of counting every build.
    """

    __tablename__ = "build_counters"

    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class BuildProjectCounter(Base):
    """Builds per (project, status), kept in step like :class:`BuildCounter`: the total
    of a list filtered by project (and status) without counting a million rows."""

    __tablename__ = "build_project_counters"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
