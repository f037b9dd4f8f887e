"""How audit records get written.

A successful write is recorded inside its own transaction (a commit hook, see
:func:`install`), so no change is ever committed without its record. A request that fails
(refused, invalid, conflicting, or a failed login) changed nothing; the middleware records
it afterwards in a short transaction of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.audit.models import AuditRecord
from buildstate.server.db.database import Database
from buildstate.server.db.hooks import Change, CommitHooks
from buildstate.server.db.rows import insert_row, record
from buildstate.server.middleware import StatusWatch
from buildstate.server.state import state_of

log = logging.getLogger("buildstate.audit")

AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OUTCOMES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    412: "conflict",
    413: "rejected",
    422: "invalid",
    429: "throttled",
}


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return _OUTCOMES.get(status, "error" if status >= 500 else "rejected")


def _storable(text: str) -> str:
    """A request path as PostgreSQL can store it: a NUL (``%00``) written as ``\\x00``."""
    return text.replace("\x00", "\\x00")


def record_for(scope: Scope, status: int) -> AuditRecord:
    state: dict[str, Any] = scope.get("state", {})
    principal = state.get("principal")
    route = scope.get("route")
    template = getattr(route, "path", None) or scope["path"]
    client = scope.get("client")
    return record(
        AuditRecord,
        actor=getattr(principal, "actor", None) or state.get("login_username"),
        credential_id=getattr(principal, "credential_id", None),
        action=_storable(f"{scope['method']} {template}")[:255],
        target=_storable(scope["path"])[:1024],
        outcome=_outcome(status),
        status_code=status,
        request_id=state.get("request_id"),
        client_address=client[0][:64] if client else None,
    )


def install(hooks: CommitHooks) -> None:
    """Record every successful write in its own transaction."""
    hooks.in_transaction.append(_record_write)
    hooks.after_commit.append(_mark_recorded)


def _record_write(session: Session, change: Change) -> None:
    scope = change.scope
    if scope["method"] in AUDITED_METHODS:
        status = getattr(scope.get("route"), "status_code", None) or 200
        insert_row(session, record_for(scope, status), key=False)


def _mark_recorded(change: Change) -> None:
    """The middleware need not record this request: its write did."""
    change.scope.setdefault("state", {})["audited"] = True


class AuditMiddleware:
    """Records the mutating requests the request session did not (the failed ones)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in AUDITED_METHODS:
            await self.app(scope, receive, send)
            return
        watch = StatusWatch(send, default=500)
        try:
            await self.app(scope, receive, watch)
        finally:
            if not scope.get("state", {}).get("audited"):
                await self._write(scope, watch.status)

    async def _write(self, scope: Scope, status: int) -> None:
        db: Database | None = getattr(state_of(scope["app"]), "db", None)
        if db is None:  # the lifespan has not run (or failed)
            return
        entry = record_for(scope, status)
        try:
            await db.write(lambda session: insert_row(session, entry, key=False))
        except Exception:  # the response is already out; never turn it into an error
            log.exception(
                "could not write the audit record of %s %s", scope["method"], scope["path"]
            )
