"""What ``bldst server start`` and ``bldst db upgrade`` run.

Start-up problems a user can fix (a bad setting, an unreachable database, unsafe
production secrets) become :class:`StartupError` with one line that says what to do;
the CLI prints it without a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from buildstate.server import bootstrap
from buildstate.server.db.engine import (
    UnsupportedDatabase,
    create_database,
    driver_url,
    sqlite_path,
)
from buildstate.server.db.migrate import upgrade_database
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


def serve(host: str, port: int, workers: int, reload: bool, production: bool) -> None:
    if production:
        os.environ["BUILDSTATE_MODE"] = "production"
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
    print(f"buildstate: API on http://{host}:{port}  (docs: /docs)", flush=True)
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
