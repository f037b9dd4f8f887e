"""Probes for load balancers and monitoring. No authentication, by the seed's contract."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from buildstate._version import __version__
from buildstate.server.db.database import Database
from buildstate.server.db.types import utcnow
from buildstate.server.state import state_of

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["healthy"]
    timestamp: datetime


class Ready(BaseModel):
    ready: bool
    database: str
    timestamp: datetime
    reason: str | None = None


_HIDDEN = "Null unless BUILDSTATE_EXPOSE_STATUS_DETAILS (on in development, off in production)."


class Status(BaseModel):
    version: str | None = Field(description=f"The server's version. {_HIDDEN}")
    uptime: int
    status: Literal["running", "degraded"]
    database: str
    database_backend: str | None = Field(description=f"`sqlite` or `postgresql`. {_HIDDEN}")
    mode: str
    timestamp: datetime


async def _database_ok(db: Database) -> str | None:
    """``None`` when the database answers, else why not (without secrets)."""
    try:
        await db.read(lambda session: session.execute(text("SELECT 1")))
    except Exception as exc:  # any failure means "not ready"; say which kind
        return f"database unreachable: {type(exc).__name__}"
    return None


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process is up and serving."""
    return Health(status="healthy", timestamp=utcnow())


@router.get("/", include_in_schema=False)
async def root() -> Health:
    return Health(status="healthy", timestamp=utcnow())


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(request: Request, response: Response) -> Ready:
    """Readiness: the database answers. 503 with the reason when it does not."""
    problem = await _database_ok(state_of(request.app).db)
    if problem:
        response.status_code = 503
    return Ready(
        ready=problem is None,
        database="connected" if problem is None else "unavailable",
        timestamp=utcnow(),
        reason=problem,
    )


@router.get("/status", response_model=Status)
async def status(request: Request) -> Status:
    """Version, uptime in seconds, and the state of each component (the version and the
    database backend only where configured to say them, see `version`)."""
    state = state_of(request.app)
    problem = await _database_ok(state.db)
    details = state.settings.status_details_exposed
    return Status(
        version=__version__ if details else None,
        uptime=int(time.monotonic() - state.started),
        status="running" if problem is None else "degraded",
        database="connected" if problem is None else "unavailable",
        database_backend=state.db.dialect if details else None,
        mode=state.settings.mode.value,
        timestamp=utcnow(),
    )
