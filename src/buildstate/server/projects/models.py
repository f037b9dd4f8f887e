from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from buildstate.server.catalog.models import CatalogEntry
from buildstate.server.db.base import Base
from buildstate.server.db.types import UTCDateTime, utcnow


class Project(CatalogEntry):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("name"),)

    description: Mapped[str | None] = mapped_column(Text)


class StateCodeDefinition(Base):
    """A state code a project's builds may report, e.g. 25 = "Packer build"."""

    __tablename__ = "state_codes"
    __table_args__ = (UniqueConstraint("project_id", "state_code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    state_code: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    is_blocking: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
