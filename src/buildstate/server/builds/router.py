"""Builds endpoints: thin; the rules are in the service and the state machine."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import AfterValidator, WithJsonSchema
from sqlalchemy.orm import Session

from buildstate.server.auth.principal import ReadScope, WriteScope
from buildstate.server.builds import schemas as s
from buildstate.server.builds.repository import BuildFilters, BuildRepository
from buildstate.server.builds.resume import ResumeService
from buildstate.server.builds.service import BuildService
from buildstate.server.builds.statemachine import BuildStatus
from buildstate.server.db.session import Work, work
from buildstate.server.http import json_response
from buildstate.server.idempotency.service import IdempotencyDep
from buildstate.server.openapi import responses
from buildstate.server.routing import fast
from buildstate.server.state import state_of
from buildstate.server.validation import STORABLE, Limit, PathId, QueryMoment, QueryText, Skip


def _service(session: Session) -> BuildService:
    return BuildService(BuildRepository(session))


Service = Annotated[Work[BuildService], Depends(work(_service))]
router = APIRouter(prefix="/builds", tags=["builds"])
# Reads return JSON bytes (see views.to_json); response_model documents them. What
# pipelines send most is @fast (see routing).
WRITE_ERRORS = responses(401, 403, 404, 409, 422)
READ_ERRORS = responses(401, 403, 404, 422)
# A key, "=", then the value (which may be empty); no NUL (validation.STORABLE_PATTERN).
_LABEL_FILTER = re.compile(r"^[^=\x00]+=[^\x00]*$")
_LABEL_FILTER_LENGTH = (2, 63 + 1 + 255)  # the longest key, "=", the longest value


def _label_filter(item: str) -> str:
    shortest, longest = _LABEL_FILTER_LENGTH
    if not (shortest <= len(item) <= longest and _LABEL_FILTER.search(item)):
        raise ValueError(
            f"must look like key=value: a key, '=', then the value ({longest} characters at most)"
        )
    return item


LabelFilter = Annotated[
    str,
    STORABLE,
    AfterValidator(_label_filter),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": _LABEL_FILTER_LENGTH[0],
            "maxLength": _LABEL_FILTER_LENGTH[1],
            "pattern": _LABEL_FILTER.pattern,
        }
    ),
]


async def _filters(
    project_id: QueryText | None = None,
    status: BuildStatus | None = None,
    platform_id: QueryText | None = None,
    os_version_id: QueryText | None = None,
    image_type_id: QueryText | None = None,
    build_number: QueryText | None = None,
    label: Annotated[
        list[LabelFilter] | None,
        Query(max_length=20, description="`key=value`; repeat to require several labels."),
    ] = None,
    created_after: QueryMoment | None = None,
    created_before: QueryMoment | None = None,
) -> BuildFilters:
    pairs = tuple((key, value) for key, _, value in (item.partition("=") for item in label or []))
    return BuildFilters(
        project_id=project_id,
        status=status,
        platform_id=platform_id,
        os_version_id=os_version_id,
        image_type_id=image_type_id,
        build_number=build_number,
        labels=pairs,
        created_after=created_after,
        created_before=created_before,
    )


@router.post("", status_code=201, response_model=s.Build, responses=WRITE_ERRORS)
@fast
async def create_build(
    body: s.BuildCreate, principal: WriteScope, svc: Service, idem: IdempotencyDep
) -> Response:
    """Create a build (status `pending`, state 0). `build_number` is unique per project."""
    return await svc.write_once(idem, 201, body, BuildService.create, body, by=principal)


@router.get("", response_model=list[s.Build], responses=responses(401, 403, 422))
async def list_builds(
    _: ReadScope,
    svc: Service,
    filters: Annotated[BuildFilters, Depends(_filters)],
    skip: Skip = 0,
    limit: Limit = 100,
) -> Response:
    """Newest first. The total matching count is in the `X-Total-Count` header. A page
    stops before `limit` builds once it reaches 4 MiB; `X-Next-Skip` then gives the
    `skip` that continues it."""
    page, total = await svc.read(BuildService.search_json, filters, skip, limit)
    headers = {"X-Total-Count": str(total), **page.next_skip(skip)}
    return json_response(page.body, headers=headers)


@router.get("/{build_id}", response_model=s.BuildDetail, responses=READ_ERRORS)
@fast
async def get_build(build_id: PathId, _: ReadScope, svc: Service) -> Response:
    return json_response(await svc.lookup(BuildService.get_json, build_id))


@router.post("/{build_id}/state", response_model=s.StateReported, responses=WRITE_ERRORS)
@fast
async def report_state(
    build_id: PathId, body: s.StateReport, _: WriteScope, svc: Service, idem: IdempotencyDep
) -> Response:
    """Report progress. With an artifact and status `completed`, the state is a checkpoint."""
    return await svc.write_once(idem, 200, body, BuildService.report_state, build_id, body)


@router.get("/{build_id}/state", response_model=s.BuildStateView, responses=READ_ERRORS)
async def get_state(build_id: PathId, _: ReadScope, svc: Service) -> s.BuildStateView:
    """The current state and the full history, oldest first, across attempts."""
    return await svc.lookup(BuildService.state, build_id)


@router.post(
    "/{build_id}/failure", status_code=201, response_model=s.Failure, responses=WRITE_ERRORS
)
async def record_failure(
    build_id: PathId, body: s.FailureReport, _: WriteScope, svc: Service, idem: IdempotencyDep
) -> Response:
    """Mark the build failed at a state. Retryable failures at non-blocking states can be
    retried by simply reporting the next state; others need `POST /resume`."""
    return await svc.write_once(idem, 201, body, BuildService.record_failure, build_id, body)


@router.get("/{build_id}/artifacts", response_model=list[s.Artifact], responses=READ_ERRORS)
async def list_artifacts(build_id: PathId, _: ReadScope, svc: Service) -> list[s.Artifact]:
    return await svc.lookup(BuildService.artifacts, build_id)


async def _resumes(request: Request) -> Work[ResumeService]:
    live_seconds = state_of(request.app).settings.resume_live_seconds
    return Work(request, lambda session: ResumeService(BuildRepository(session), live_seconds))


Resumes = Annotated[Work[ResumeService], Depends(_resumes)]


@router.get("/{build_id}/resume", response_model=s.ResumePlan, responses=READ_ERRORS)
async def resume_plan(
    build_id: PathId,
    _: ReadScope,
    svc: Resumes,
    from_state: Annotated[int | None, Query(ge=0, le=100)] = None,
) -> s.ResumePlan:
    """Where a resume would start: the last checkpoint, the next state, what is skipped."""
    return await svc.lookup(ResumeService.resume_plan, build_id, from_state)


@router.post("/{build_id}/resume", response_model=s.ResumePlan, responses=WRITE_ERRORS)
async def resume(
    build_id: PathId,
    _: WriteScope,
    svc: Resumes,
    idem: IdempotencyDep,
    body: Annotated[s.ResumeRequest | None, Body()] = None,
) -> Response:
    """Start the next attempt from the last checkpoint (or `from_state`). 409 while the
    current attempt is live (in progress, recently active) unless `force`, and when
    `expected_attempt` is no longer the current attempt: of concurrent resumes, one wins."""
    request = body or s.ResumeRequest()
    return await svc.write_once(idem, 200, request, ResumeService.resume, build_id, request)


@router.post("/{build_id}/cancel", response_model=s.Build, responses=WRITE_ERRORS)
async def cancel(
    build_id: PathId,
    _: WriteScope,
    svc: Service,
    body: Annotated[s.CancelRequest | None, Body()] = None,
) -> s.Build:
    """Cancel a pending, in-progress or failed build; 409 if it is completed or cancelled."""
    return await svc.write(BuildService.cancel, build_id, body or s.CancelRequest())
