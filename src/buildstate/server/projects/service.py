"""Rules for a project's state codes."""

from __future__ import annotations

import uuid

from buildstate.server.catalog.crud import CatalogRepository, CatalogService
from buildstate.server.catalog.resources import PROJECTS
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Conflict, NotFound
from buildstate.server.projects.models import StateCodeDefinition
from buildstate.server.projects.repository import StateCodeRepository
from buildstate.server.projects.schemas import StateCodeCreate, StateCodeUpdate


class StateCodeService:
    def __init__(self, repo: StateCodeRepository) -> None:
        self.repo = repo
        self.projects = CatalogService(CatalogRepository(PROJECTS, repo.session))

    def for_project(self, project_id: str) -> list[StateCodeDefinition]:
        self.projects.get(project_id)
        return self.repo.for_project(project_id)

    def get(self, project_id: str, ref: str) -> StateCodeDefinition:
        self.projects.get(project_id)
        row = self.repo.get(project_id, ref)
        if row is None:
            raise NotFound(f"State code {ref!r} not found in project {project_id!r}")
        return row

    def create(self, project_id: str, body: StateCodeCreate) -> StateCodeDefinition:
        self.projects.get_active(project_id, "project_id")
        self._check_free(project_id, body.state_code)
        row = StateCodeDefinition(id=str(uuid.uuid4()), project_id=project_id, **body.model_dump())
        self.repo.add(row)
        return row

    def update(self, project_id: str, ref: str, body: StateCodeUpdate) -> StateCodeDefinition:
        row = self.get(project_id, ref)
        changes = body.model_dump(exclude_unset=True)
        if "state_code" in changes and changes["state_code"] != row.state_code:
            self._check_free(project_id, changes["state_code"])
        for field, value in changes.items():
            setattr(row, field, value)
        row.updated_at = utcnow()
        self.repo.session.flush()
        return row

    def delete(self, project_id: str, ref: str) -> None:
        self.repo.delete(self.get(project_id, ref))

    def _check_free(self, project_id: str, code: int) -> None:
        if self.repo.by_code(project_id, code) is not None:
            raise Conflict(f"State code {code} already exists in project {project_id!r}")
