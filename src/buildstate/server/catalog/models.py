from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from buildstate.server.db.base import Base
from buildstate.server.db.types import UTCDateTime, utcnow


class CatalogEntry(Base):
    """Columns every catalog table has: readable id, soft delete, optimistic revision."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Platform(CatalogEntry):
    __tablename__ = "platforms"
    __table_args__ = (UniqueConstraint("name"),)

    cloud_provider: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))


class OsVersion(CatalogEntry):
    __tablename__ = "os_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    version: Mapped[str] = mapped_column(String(64))


class ImageType(CatalogEntry):
    __tablename__ = "image_types"
    __table_args__ = (UniqueConstraint("name"),)

    description: Mapped[str | None] = mapped_column(Text)
