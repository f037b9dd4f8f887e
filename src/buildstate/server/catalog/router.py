"""Routes for a catalog resource, made from its :class:`CatalogSpec`.

No ``from __future__ import annotations`` here: FastAPI reads the body and response types
from these closures' annotations at runtime.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from buildstate.server.auth.principal import AdminScope, ReadScope, WriteScope
from buildstate.server.catalog.crud import CatalogRepository, CatalogService, CatalogSpec, etag
from buildstate.server.db.session import Work, work
from buildstate.server.openapi import responses
from buildstate.server.validation import STORABLE, IncludeDeactivated, Limit, PathId, Skip


def catalog_router(spec: CatalogSpec) -> APIRouter:
    Service = Annotated[
        Work[CatalogService],
        Depends(work(lambda session: CatalogService(CatalogRepository(spec, session)))),
    ]
    Create = spec.create
    Update = spec.update
    Read = spec.read
    name = spec.label.lower()
    router = APIRouter(prefix=spec.path, tags=[spec.tag])

    @router.post(
        "/",
        status_code=201,
        response_model=Read,
        summary=f"Create a {name}",
        responses=responses(401, 403, 404, 409, 422),
    )
    async def create(
        body: Create,  # type: ignore[valid-type]
        _: WriteScope,
        svc: Service,
        response: Response,
    ) -> Any:
        entry = await svc.write(CatalogService.create, body)
        response.headers["ETag"] = etag(entry)
        return entry

    @router.get(
        "/",
        response_model=list[Read],  # type: ignore[valid-type]
        summary=f"List {name}s",
        responses=responses(401, 403, 422),
    )
    async def list_(
        _: ReadScope,
        svc: Service,
        skip: Skip = 0,
        limit: Limit = 100,
        include_deactivated: IncludeDeactivated = False,
    ) -> Any:
        return await svc.read(CatalogService.page, skip, limit, include_deactivated)

    @router.get(
        "/{entry_id}",
        response_model=Read,
        summary=f"Get a {name}",
        responses=responses(401, 403, 404, 422),
    )
    async def get(entry_id: PathId, _: ReadScope, svc: Service, response: Response) -> Any:
        entry = await svc.lookup(CatalogService.get, entry_id)
        response.headers["ETag"] = etag(entry)
        return entry

    @router.put(
        "/{entry_id}",
        response_model=Read,
        summary=f"Update a {name}",
        responses=responses(401, 403, 404, 409, 412, 422),
    )
    async def update(
        entry_id: PathId,
        body: Update,  # type: ignore[valid-type]
        _: WriteScope,
        svc: Service,
        response: Response,
        if_match: Annotated[
            Annotated[str, STORABLE] | None,
            Header(max_length=300, description="ETag from a GET: 412 if stale."),
        ] = None,
    ) -> Any:
        entry = await svc.write(CatalogService.update, entry_id, body, if_match)
        response.headers["ETag"] = etag(entry)
        return entry

    @router.delete(
        "/{entry_id}",
        status_code=204,
        response_class=Response,
        summary=f"Soft-delete a {name}",
        responses=responses(401, 403, 404, 422),
    )
    async def delete(entry_id: PathId, _: AdminScope, svc: Service) -> Response:
        await svc.write(CatalogService.deactivate, entry_id)
        return Response(status_code=204)

    return router
