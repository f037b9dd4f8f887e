"""The application factory: ``create_app(settings)`` wires every feature together."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig

from buildstate._version import __version__
from buildstate.server import bootstrap
from buildstate.server.audit import recorder
from buildstate.server.audit.recorder import AuditMiddleware
from buildstate.server.audit.router import router as audit_router
from buildstate.server.auth.credential_throttle import CredentialThrottle
from buildstate.server.auth.hashing import PasswordHashing
from buildstate.server.auth.principal import document_security, parse_static_keys
from buildstate.server.auth.router import router as auth_router
from buildstate.server.auth.throttle import LoginThrottle
from buildstate.server.builds.router import router as builds_router
from buildstate.server.catalog.resources import ALL as CATALOG
from buildstate.server.catalog.router import catalog_router
from buildstate.server.dashboard.router import router as dashboard_router
from buildstate.server.db.database import create_database
from buildstate.server.db.hooks import CommitHooks
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.errors import install_error_handlers
from buildstate.server.logs import configure_logging
from buildstate.server.middleware import RequestContextMiddleware
from buildstate.server.ops.router import router as ops_router
from buildstate.server.projects.router import router as state_codes_router
from buildstate.server.ratelimit import RateLimits
from buildstate.server.routing import FastRoutes, compile_fast_routes
from buildstate.server.services.base import running
from buildstate.server.services.registry import SERVICES
from buildstate.server.settings import Settings
from buildstate.server.state import AppState, state_of

log = logging.getLogger("buildstate.app")

DESCRIPTION = """
Track VM image builds through numbered states (0–100), record failures and checkpoint
artifacts, and resume failed builds from their last good checkpoint.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <JWT from POST /token>`.
Scopes: `read` < `write` < `admin`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = state_of(app)
    settings = state.settings
    if settings.auto_migrate:
        await to_thread.run_sync(upgrade_database, settings)
    db = create_database(settings)
    state.db = db
    try:
        state.keys = await to_thread.run_sync(bootstrap.prepare, settings, db)
        where = db.sqlite_file or db.url.render_as_string(hide_password=True)
        log.info("buildstate %s ready (%s mode) on %s", __version__, settings.mode.value, where)
        # What exists now lives as long as the server. Left to the cyclic garbage collector,
        # its ~150k objects are traversed by every full collection, a pause of the whole
        # process every few thousand writes (see bench/RESULTS.md). Frozen, they are skipped.
        gc.collect()
        gc.freeze()
        async with running(SERVICES if settings.services else (), settings, db) as services:
            state.services = services
            yield
    finally:
        gc.unfreeze()  # collectable again, e.g. when tests start many apps in one process
        state.password_hashing.close()
        await to_thread.run_sync(db.close)


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="buildstate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Off in production unless BUILDSTATE_EXPOSE_API_DOCS: the schema maps the attack surface.
        docs_url="/docs" if settings.api_docs_exposed else None,
        redoc_url="/redoc" if settings.api_docs_exposed else None,
        openapi_url="/openapi.json" if settings.api_docs_exposed else None,
        # FastAPI looks up the OpenTelemetry providers on every request, unless told not
        # to (its cost when nothing is configured: see bench/RESULTS.md).
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    hooks = CommitHooks()
    recorder.install(hooks)
    app.state.buildstate = AppState(
        settings=settings,
        started=time.monotonic(),
        static_keys=parse_static_keys(settings.effective_api_keys),
        login_throttle=LoginThrottle(
            settings.login_max_failures,
            settings.login_max_failures_per_address,
            settings.login_max_failures_per_user,
            settings.login_window_seconds,
        ),
        password_hashing=PasswordHashing(
            settings.password_hash_concurrency, settings.password_hash_queue
        ),
        rate_limits=(
            RateLimits(settings.rate_limit_reads, settings.rate_limit_writes)
            if settings.rate_limits
            else None
        ),
        hooks=hooks,
    )
    install_error_handlers(app)
    # Added first, so innermost: a request it answers still passes through all the
    # middleware added below (CORS, the credential throttle, request ids, audit).
    app.add_middleware(FastRoutes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "X-Request-ID",
                "X-Total-Count",
                "X-Next-Skip",
                "ETag",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "RateLimit",
                "RateLimit-Policy",
            ],
        )
    app.add_middleware(
        CredentialThrottle,
        per_address=settings.auth_max_failures_per_address,
        per_credential=settings.auth_max_failures_per_credential,
        window_seconds=settings.auth_failure_window_seconds,
    )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(AuditMiddleware)  # outermost: sees every response, even a 413
    # FastAPI tries routes in order, at a cost per route: the hot ones go first.
    app.include_router(builds_router)
    app.include_router(dashboard_router)
    app.include_router(ops_router)
    app.include_router(auth_router)
    for spec in CATALOG:
        app.include_router(catalog_router(spec))
    app.include_router(state_codes_router)
    app.include_router(audit_router)
    app.state.fast_routes = compile_fast_routes(app.routes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus what it cannot see: the credential schemes (see
    ``document_security``), 408 and 413 on every operation with a body and 503 on every
    operation that uses the database (all from middleware)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    document_security(schema, app.routes)
    for path_name, path in schema["paths"].items():
        for operation in path.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("413", {"description": "Request body too large"})
                operation["responses"].setdefault("408", {"description": "Request body too slow"})
            if path_name not in ("/health", "/ready", "/status"):
                operation["responses"].setdefault(
                    "503", {"description": "Database busy or saturated; retry after Retry-After"}
                )
    app.openapi_schema = schema
    return schema
