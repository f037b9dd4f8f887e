"""``bldst server`` and ``bldst db``: run the API and migrate its database.

Both need the ``server`` extra; its modules are imported only here, when the command runs.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Annotated, Any

import typer

from buildstate.cli.output import fail

app = typer.Typer(
    help="Run the buildstate API server (needs buildstate\\[server]).", no_args_is_help=True
)
db_app = typer.Typer(
    help="Database maintenance (needs buildstate\\[server]).", no_args_is_help=True
)
services_app = typer.Typer(
    help="Background services apart from the API (needs buildstate\\[server]).",
    no_args_is_help=True,
)

# Third-party packages of the `server` extra: an ImportError naming one means it is missing.
SERVER_PACKAGES = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "pydantic",
        "pydantic_settings",
        "jwt",
        "argon2",
        "orjson",
        "multipart",
        "python_multipart",
    }
)


def server_function(module: str, name: str) -> Callable[..., Any]:
    """Import ``module.name``, turning a missing ``server`` extra into a one-line error."""
    try:
        function: Callable[..., Any] = getattr(import_module(module), name)
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing in SERVER_PACKAGES:
            fail(
                f"the server needs extra packages ({missing} is missing): "
                "pip install 'buildstate[server]'"
            )
        fail(f"cannot load {module}.{name}: {exc}")
    return function


@app.command("start")
def start(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart on code changes (dev).")
    ] = False,
    production: Annotated[
        bool, typer.Option("--production", help="Refuse insecure defaults (dev keys, secrets).")
    ] = False,
    services: Annotated[
        bool,
        typer.Option(
            "--services/--no-services",
            help="Run the background services in this server (off: run them once, apart, "
            "with `bldst services start`).",
        ),
    ] = True,
) -> None:
    """Start the API server.

    Examples: bldst server start · bldst server start --host 0.0.0.0 --workers 4 --production
    """
    serve = server_function("buildstate.server.runner", "serve")
    _explain_startup(
        lambda: serve(
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            production=production,
            services=services,
        )
    )


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply database migrations (DATABASE_URL selects the database).

    Example: DATABASE_URL=postgresql://… bldst db upgrade
    """
    upgrade_database = server_function("buildstate.server.runner", "upgrade")
    revision = _explain_startup(upgrade_database)
    typer.echo(f"database is at revision {revision} (the latest)")


@services_app.command("start")
def services_start() -> None:
    """Run the background services until Ctrl-C or SIGTERM.

    For API replicas started with `bldst server start --no-services`: run this once,
    beside them. The database (DATABASE_URL) must be migrated already.

    Example: DATABASE_URL=postgresql://… bldst services start
    """
    _explain_startup(server_function("buildstate.server.runner", "run_services"))


@services_app.command("list")
def services_list() -> None:
    """The background services and what each does."""
    services = server_function("buildstate.server.services.registry", "services")
    for name, description in services():
        typer.echo(f"{name}: {description}")


def _explain_startup(call: Callable[[], Any]) -> Any:
    """Run ``call``; a start-up problem the user can fix is one line on stderr, exit 1."""
    from buildstate.server.runner import StartupError

    try:
        return call()
    except StartupError as exc:
        fail(str(exc))
