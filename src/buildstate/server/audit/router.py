"""``GET /audit``: read-only, admin only. Nothing in the API changes or deletes records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, func, select

from buildstate.server.audit.models import AuditRecord
from buildstate.server.auth.principal import AdminScope
from buildstate.server.db.session import SessionDep
from buildstate.server.openapi import responses
from buildstate.server.validation import Limit, QueryMoment, QueryText, Skip

router = APIRouter(tags=["audit"])
_Q = TypeVar("_Q", bound=Select[Any])


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str | None
    credential_id: str | None
    action: str
    target: str
    outcome: str
    status_code: int
    request_id: str | None
    client_address: str | None


@router.get("/audit", response_model=list[AuditEntry], responses=responses(401, 403, 422))
async def list_audit(
    _: AdminScope,
    session: SessionDep,
    response: Response,
    skip: Skip = 0,
    limit: Limit = 100,
    actor: QueryText | None = None,
    action: QueryText | None = None,
    outcome: QueryText | None = None,
    request_id: QueryText | None = None,
    since: QueryMoment | None = None,
    until: QueryMoment | None = None,
) -> list[AuditRecord]:
    """Newest first; the total is in `X-Total-Count`. `action` is a route, e.g.
    `POST /builds/{build_id}/state`."""

    def where(query: _Q) -> _Q:
        for column, value in (
            (AuditRecord.actor, actor),
            (AuditRecord.action, action),
            (AuditRecord.outcome, outcome),
            (AuditRecord.request_id, request_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(AuditRecord.created_at >= since)
        if until is not None:
            query = query.where(AuditRecord.created_at < until)
        return query

    total = await session.scalar(where(select(func.count(AuditRecord.id))))
    response.headers["X-Total-Count"] = str(total or 0)
    query = where(select(AuditRecord)).order_by(AuditRecord.id.desc()).offset(skip).limit(limit)
    return list((await session.scalars(query)).all())
