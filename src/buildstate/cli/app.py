"""The ``bldst`` Typer application, assembled from one sub-app per command group."""

from importlib import import_module
from typing import Annotated

import typer

from buildstate._version import __version__

EPILOG = """\
[bold]Examples[/bold]

  bldst config set-url http://localhost:8080

  bldst auth set-key $BLDST_API_KEY

  bldst build list --limit 20 -o json | jq '.[].id'

[bold]Environment[/bold]: BLDST_API_URL, BLDST_API_KEY, BLDST_TOKEN (JWT), BLDST_TIMEOUT, \
BLDST_RETRIES and BLDST_OUTPUT override the config file; BLDST_CONFIG_DIR moves it.

[bold]Exit codes[/bold]

  0 success · 1 a local check failed (config, input) · 2 usage error

  3 the API refused the request (4xx) · 4 server unreachable or timed out

  5 server error (5xx) · 6 resume --verify found the checkpoint missing or different
"""

# Command group -> (module in buildstate.cli, attribute holding its Typer app).
GROUPS = {
    "config": ("config_cmd", "app"),
    "auth": ("auth", "app"),
    "health": ("health", "app"),
    "build": ("build", "app"),
    "dashboard": ("dashboard", "app"),
    "server": ("server", "app"),
    "db": ("server", "db_app"),
    "services": ("server", "services_app"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bldst {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Track VM image builds in buildstate: states, failures, checkpoints and resume."""


def create_app(command: str | None = None) -> typer.Typer:
    """The whole app; or, when ``command`` names a fixed group, only that group, so a
    pipeline's ``bldst build add-state`` neither imports nor builds the other commands."""
    app = typer.Typer(
        name="bldst",
        epilog=EPILOG,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(root)
    only_one = command in GROUPS
    for name, (module, attribute) in GROUPS.items():
        if not only_one or name == command:
            app.add_typer(getattr(import_module(f"buildstate.cli.{module}"), attribute), name=name)
    if not only_one:
        from buildstate.cli import catalog

        for name, group in catalog.apps().items():
            app.add_typer(group, name=name)
    return app
