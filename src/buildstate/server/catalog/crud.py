"""One CRUD mechanism for every catalog resource (platforms, OS versions, image types,
projects): a :class:`CatalogSpec` says what differs, the rest is written once here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from buildstate.server.catalog.models import CatalogEntry
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Conflict, NotFound, PreconditionFailed


@dataclass(frozen=True)
class CatalogSpec:
    model: type[CatalogEntry]
    label: str  # "Platform": used in messages
    path: str  # "/platforms"
    tag: str
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]
    natural_key: tuple[str, ...]  # the fields that must be unique together
    slug_ids: bool = False  # ids default to the slug of the name instead of a UUID


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-._")[:128]


def etag(entry: CatalogEntry) -> str:
    return f'"{entry.id}.{entry.revision}"'


class CatalogRepository:
    def __init__(self, spec: CatalogSpec, session: Session) -> None:
        self.spec = spec
        self.session = session

    def get(self, entry_id: str) -> CatalogEntry | None:
        return self.session.get(self.spec.model, entry_id)

    def page(self, skip: int, limit: int, include_deactivated: bool) -> list[CatalogEntry]:
        model = self.spec.model
        query = select(model).order_by(model.created_at, model.id).offset(skip).limit(limit)
        if not include_deactivated:
            query = query.where(model.deactivated_at.is_(None))
        return list((self.session.scalars(query)).all())

    def find(self, values: dict[str, Any]) -> CatalogEntry | None:
        model = self.spec.model
        clause = and_(*(getattr(model, f) == v for f, v in values.items()))
        return (self.session.scalars(select(model).where(clause).limit(1))).first()

    def add(self, entry: CatalogEntry) -> None:
        self.session.add(entry)
        self.session.flush()


class CatalogService:
    def __init__(self, repo: CatalogRepository) -> None:
        self.repo = repo
        self.spec = repo.spec

    def not_found(self, entry_id: str) -> NotFound:
        return NotFound(f"{self.spec.label} with id {entry_id!r} not found")

    def get(self, entry_id: str) -> CatalogEntry:
        entry = self.repo.get(entry_id)
        if entry is None:
            raise self.not_found(entry_id)
        return entry

    def get_active(self, entry_id: str, field: str) -> CatalogEntry:
        """For references from other resources: 404 names the field that pointed here."""
        entry = self.repo.get(entry_id)
        if entry is None or entry.deactivated_at is not None:
            state = "is deactivated" if entry else "not found"
            raise NotFound(f"{field}: {self.spec.label} with id {entry_id!r} {state}")
        return entry

    def page(self, skip: int, limit: int, include_deactivated: bool) -> list[CatalogEntry]:
        return self.repo.page(skip, limit, include_deactivated)

    def create(self, body: BaseModel) -> CatalogEntry:
        data = body.model_dump()
        entry_id = data.pop("id", None) or self._new_id(data["name"])
        if existing := self.repo.get(entry_id):
            raise Conflict(
                f"{self.spec.label} with id {entry_id!r} already exists{_gone(existing)}"
            )
        self._check_unique(data, exclude=None)
        entry = self.spec.model(id=entry_id, revision=1, **data)
        self.repo.add(entry)
        return entry

    def update(self, entry_id: str, body: BaseModel, if_match: str | None) -> CatalogEntry:
        entry = self.get(entry_id)
        if if_match is not None and if_match.strip() not in ("*", etag(entry)):
            raise PreconditionFailed(
                f"{self.spec.label} {entry_id!r} changed since you read it: its ETag is now "
                f"{etag(entry)}; GET it again and retry"
            )
        # null where a column cannot be cleared never gets here (validation.Kept)
        changes = body.model_dump(exclude_unset=True)
        if any(f in changes for f in self.spec.natural_key):
            merged = {f: changes.get(f, getattr(entry, f)) for f in self.spec.natural_key}
            self._check_unique(merged, exclude=entry.id)
        for field, value in changes.items():
            setattr(entry, field, value)
        entry.revision += 1
        entry.updated_at = utcnow()
        self.repo.session.flush()
        return entry

    def deactivate(self, entry_id: str) -> None:
        """Soft delete; deleting what is already deactivated succeeds (a retry is harmless)."""
        entry = self.get(entry_id)
        if entry.deactivated_at is None:
            entry.deactivated_at = utcnow()
            entry.revision += 1
            self.repo.session.flush()

    def _new_id(self, name: str) -> str:
        if self.spec.slug_ids and (slug := slugify(name)):
            return slug
        return str(uuid.uuid4())

    def _check_unique(self, data: dict[str, Any], exclude: str | None) -> None:
        key = {f: data[f] for f in self.spec.natural_key}
        existing = self.repo.find(key)
        if existing is not None and existing.id != exclude:
            described = " and ".join(f"{f} {v!r}" for f, v in key.items())
            raise Conflict(
                f"{self.spec.label} with {described} already exists "
                f"(id {existing.id!r}){_gone(existing)}"
            )


def _gone(entry: CatalogEntry) -> str:
    return " but is deactivated" if entry.deactivated_at is not None else ""
