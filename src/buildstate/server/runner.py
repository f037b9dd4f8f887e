"""``bldst server start``: run the API under uvicorn."""

from __future__ import annotations

import os

import uvicorn

from buildstate.server.db.engine import async_url, sqlite_path
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.settings import Settings


def serve(host: str, port: int, workers: int, reload: bool, production: bool) -> None:
    if production:
        os.environ["BUILDSTATE_MODE"] = "production"
    settings = Settings()
    if settings.auto_migrate:
        # Once here, not in each worker: workers started together would race.
        upgrade_database(settings)
        os.environ["BUILDSTATE_AUTO_MIGRATE"] = "false"
    path = sqlite_path(async_url(settings.database_url))
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
        proxy_headers=True,
        server_header=False,
    )
