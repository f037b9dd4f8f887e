"""What ``bldst server start`` and ``bldst db upgrade`` run.

Start-up problems a user can fix (a bad setting, an unreachable database, unsafe
production secrets) become :class:`StartupError` with one line that says what to do;
the CLI prints it without a traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from buildstate.server import bootstrap
from buildstate.server.db.database import (
    Database,
    UnsupportedDatabase,
    create_database,
    driver_url,
)
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.db.sqlite.connect import sqlite_path
from buildstate.server.services.base import running
from buildstate.server.services.registry import SERVICES
from buildstate.server.settings import Settings


class StartupError(RuntimeError):
    pass


@contextmanager
def _explained() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise StartupError(f"invalid setting: {problems}") from None
    except (UnsupportedDatabase, bootstrap.StartupRefused) as exc:
        raise StartupError(str(exc)) from None
    except (OSError, SQLAlchemyError) as exc:
        raise StartupError(
            f"cannot use the database ({type(exc).__name__}: {exc}); check DATABASE_URL "
            "and that the server is reachable"
        ) from None


def upgrade() -> str:
    """Apply migrations to the configured database; returns its revision."""
    with _explained():
        return upgrade_database(Settings())


def serve(
    host: str, port: int, workers: int, reload: bool, production: bool, services: bool = True
) -> None:
    if production:
        os.environ["BUILDSTATE_MODE"] = "production"
    if not services:
        os.environ["BUILDSTATE_SERVICES"] = "false"
    with _explained():
        settings = Settings()
        if settings.auto_migrate:
            # Once here, not in each worker: workers started together would race.
            upgrade_database(settings)
            os.environ["BUILDSTATE_AUTO_MIGRATE"] = "false"
        if settings.is_production:
            _check_production(settings)
    path = sqlite_path(driver_url(settings.database_url))
    where = f"SQLite file {path}" if path else "PostgreSQL"
    print(f"buildstate: {settings.mode.value} mode, database: {where}", flush=True)
    docs = "docs: /docs" if settings.api_docs_exposed else "docs off: BUILDSTATE_EXPOSE_API_DOCS"
    print(f"buildstate: API on http://{host}:{port}  ({docs})", flush=True)
    uvicorn.run(
        "buildstate.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_level=settings.log_level,
        # X-Forwarded-For names the client only when a proxy we trust sent it: from anyone
        # else it would let a client choose its own throttling key and audited address.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        limit_concurrency=settings.max_connections,
        server_header=False,
    )


def _check_production(settings: Settings) -> None:
    db = create_database(settings)
    try:
        bootstrap.check_production(settings, db)
    finally:
        db.close()


def run_services() -> None:
    """The background services without the API, until SIGINT or SIGTERM (for replicas
    started with ``--no-services``). The database must be migrated already."""
    with _explained():
        settings = Settings()
        db = create_database(settings)
    try:
        print(f"buildstate: services: {', '.join(s.name for s in SERVICES)}", flush=True)
        asyncio.run(_services_until_stopped(settings, db))
    finally:
        db.close()


async def _services_until_stopped(settings: Settings, db: Database) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with running(SERVICES, settings, db):
        await stopped.wait()
