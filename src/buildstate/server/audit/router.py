"""``GET /audit``: read-only, admin only. Nothing in the API changes or deletes records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from buildstate.server.audit.models import AuditRecord
from buildstate.server.auth.principal import AdminScope
from buildstate.server.db.session import Work, work
from buildstate.server.openapi import responses
from buildstate.server.validation import Limit, QueryMoment, QueryText, Skip

router = APIRouter(tags=["audit"])
Sessions = Annotated[Work[Session], Depends(work(lambda session: session))]
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
    sessions: Sessions,
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

    def page(session: Session) -> tuple[int, list[AuditRecord]]:
        total = session.scalar(where(select(func.count(AuditRecord.id))))
        query = where(select(AuditRecord)).order_by(AuditRecord.id.desc())
        return total or 0, list(session.scalars(query.offset(skip).limit(limit)).all())

    total, records = await sessions.read(page)
    response.headers["X-Total-Count"] = str(total)
    return records
