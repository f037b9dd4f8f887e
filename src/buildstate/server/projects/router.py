"""A project's state-code definitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from buildstate.server.auth.principal import AdminScope, ReadScope, WriteScope
from buildstate.server.db.session import Work, work
from buildstate.server.openapi import responses
from buildstate.server.projects.models import StateCodeDefinition
from buildstate.server.projects.repository import StateCodeRepository
from buildstate.server.projects.schemas import StateCodeCreate, StateCodeRead, StateCodeUpdate
from buildstate.server.projects.service import StateCodeService
from buildstate.server.validation import PathId

Service = Annotated[
    Work[StateCodeService], Depends(work(lambda s: StateCodeService(StateCodeRepository(s))))
]
router = APIRouter(prefix="/projects/{project_id}/state-codes", tags=["state codes"])


@router.post(
    "", status_code=201, response_model=StateCodeRead, responses=responses(401, 403, 404, 409, 422)
)
async def create_state_code(
    project_id: PathId, body: StateCodeCreate, _: WriteScope, svc: Service
) -> StateCodeDefinition:
    """Define a state code. Once a project has any, its builds may report only those."""
    return await svc.write(StateCodeService.create, project_id, body)


@router.get("", response_model=list[StateCodeRead], responses=responses(401, 403, 404, 422))
async def list_state_codes(
    project_id: PathId, _: ReadScope, svc: Service
) -> list[StateCodeDefinition]:
    return await svc.lookup(StateCodeService.for_project, project_id)


@router.get(
    "/{state_code_id}", response_model=StateCodeRead, responses=responses(401, 403, 404, 422)
)
async def get_state_code(
    project_id: PathId, state_code_id: PathId, _: ReadScope, svc: Service
) -> StateCodeDefinition:
    """By id, or by the code itself (`/projects/p/state-codes/25`)."""
    return await svc.lookup(StateCodeService.get, project_id, state_code_id)


@router.put(
    "/{state_code_id}", response_model=StateCodeRead, responses=responses(401, 403, 404, 409, 422)
)
async def update_state_code(
    project_id: PathId, state_code_id: PathId, body: StateCodeUpdate, _: WriteScope, svc: Service
) -> StateCodeDefinition:
    return await svc.write(StateCodeService.update, project_id, state_code_id, body)


@router.delete(
    "/{state_code_id}",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def delete_state_code(
    project_id: PathId, state_code_id: PathId, _: AdminScope, svc: Service
) -> Response:
    await svc.write(StateCodeService.delete, project_id, state_code_id)
    return Response(status_code=204)
