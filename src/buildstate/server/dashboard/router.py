"""Dashboard endpoints (the numbers come from :mod:`.service`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from buildstate.server.auth.principal import ReadScope
from buildstate.server.builds.schemas import Build
from buildstate.server.dashboard.service import DashboardService, PlatformStats, Summary
from buildstate.server.db.session import Work, work
from buildstate.server.http import json_response
from buildstate.server.openapi import responses
from buildstate.server.routing import fast
from buildstate.server.validation import PathId

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

Service = Annotated[Work[DashboardService], Depends(work(DashboardService))]


def _summary(service: DashboardService) -> bytes:
    return service.summary().model_dump_json().encode()


@router.get("/summary", response_model=Summary, responses=responses(401, 403))
@fast  # what dashboards poll most (see routing)
async def summary(_: ReadScope, svc: Service) -> Response:
    return json_response(await svc.lookup(_summary))


@router.get("/recent", response_model=list[Build], responses=responses(401, 403, 422))
async def recent(
    _: ReadScope, svc: Service, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> Response:
    """Newest first, as `GET /builds` pages them: the list stops before `limit` builds
    once it reaches 4 MiB, and `X-Next-Skip` then says where `GET /builds` continues."""
    page = await svc.read(DashboardService.recent, limit)
    return json_response(page.body, headers=page.next_skip(0))


@router.get(
    "/platform/{platform_id}", response_model=PlatformStats, responses=responses(401, 403, 404, 422)
)
async def platform(platform_id: PathId, _: ReadScope, svc: Service) -> PlatformStats:
    return await svc.read(DashboardService.platform, platform_id)
