"""Domain errors and the one place that turns every error into an HTTP response.

Services raise these (never ``HTTPException``); the handlers below render
``{"detail": ..., "request_id": ...}`` and never leak a traceback or SQL to a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("buildstate.errors")


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class Unauthorized(DomainError):
    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class PreconditionFailed(DomainError):
    status_code = 412


class Unprocessable(DomainError):
    status_code = 422


class TooManyRequests(DomainError):
    status_code = 429


class BodyRefused(Exception):
    """A request body the server will not read to its end (raised while it is read, see
    middleware): answered with ``status`` and the connection closed (the rest of the body
    may still be on its way)."""

    status = 400


class BodyTooLarge(BodyRefused):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than {limit} bytes")


class BodyTooSlow(BodyRefused):
    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Request body did not arrive within {seconds:g} seconds")


def request_id_of(request: Request) -> str | None:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else None


def error_response(
    request: Request, status_code: int, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    rid = request_id_of(request)
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status_code, headers=headers)


def _clean_validation_errors(errors: Any, body: Any) -> list[dict[str, Any]]:
    """FastAPI's error list, minus echoed input that may be huge or secret. FastAPI reads
    a form field sent empty as not sent: such a field is reported as empty."""
    cleaned = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
        ctx = err.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {k: str(v) for k, v in ctx.items()}
        if _sent_empty(err, body):
            item.update(msg="must not be empty", type="string_too_short", ctx={"min_length": "1"})
        cleaned.append(item)
    return cleaned


def _sent_empty(error: Any, body: Any) -> bool:
    loc = error.get("loc", ())
    return (
        error.get("type") == "missing"
        and isinstance(body, FormData)
        and len(loc) == 2
        and loc[0] == "body"
        and body.get(loc[1]) == ""
    )


def _allowed_methods(request: Request) -> str:
    """The ``Allow`` of the request's path: every method of every route for it (Starlette
    names only those of the first route that matched the path), and OPTIONS."""
    scope = dict(request.scope)
    methods = {"OPTIONS"}
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, _clean_validation_errors(exc.errors(), exc.body))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail
        refused = exc.__cause__
        if isinstance(refused, BodyRefused):  # FastAPI re-raises it as a 400
            return error_response(request, refused.status, str(refused), {"Connection": "close"})
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's 400 for a body it could not even decode (e.g. not UTF-8): the same
            # 422 a malformed JSON body gets, saying why.
            problem = f"{type(exc.__cause__).__name__}: {exc.__cause__}"[:300]
            return error_response(
                request,
                422,
                [{"loc": ["body"], "msg": f"Unreadable body ({problem})", "type": "body_invalid"}],
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            allow = _allowed_methods(request)
            if request.method == "OPTIONS":  # with CORS on, CORSMiddleware answers preflights
                return Response(status_code=204, headers={"Allow": allow})
            detail = f"Method {request.method} is not allowed on {request.url.path}; use {allow}"
            return error_response(request, 405, detail, {"Allow": allow})
        return error_response(request, exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Uniqueness is checked before writing; this is the race between two writers.
        log.info("integrity conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(
            request,
            409,
            "The request conflicts with a record written at the same moment; "
            "read the current state and retry",
        )

    @app.exception_handler(DBAPIError)
    async def _transient(request: Request, exc: DBAPIError) -> JSONResponse:
        if not _is_transient(exc):
            raise exc  # a real bug: the request-context middleware renders the 500
        log.warning(
            "transient database error on %s %s: %s", request.method, request.url.path, exc.orig
        )
        return error_response(
            request, 503, "The database is busy; retry shortly", {"Retry-After": "1"}
        )

    @app.exception_handler(PoolTimeout)
    async def _saturated(request: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning("no database connection free for %s %s", request.method, request.url.path)
        return error_response(
            request, 503, "The server is saturated; retry shortly", {"Retry-After": "1"}
        )


# Deadlock and serialization failures (PostgreSQL), a lock wait that outlasted the busy
# timeout (SQLite) and a lost connection: nothing was applied, and a retry will succeed.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _is_transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:  # the server went away (a restart): the pool reconnects
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in _TRANSIENT_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
