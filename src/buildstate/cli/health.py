"""``bldst health``: liveness, readiness and status of the API (no credentials needed)."""

import typer

from buildstate.cli.output import OutputOpt, emit
from buildstate.cli.session import api

app = typer.Typer(help="Check that the API is up and ready.", no_args_is_help=True)


@app.command("check")
def check(output: OutputOpt = None) -> None:
    """Is the API alive? (GET /health)

    Example: bldst health check || echo "API down"
    """
    with api() as client:
        emit(client.health(), output)


@app.command("ready")
def ready(output: OutputOpt = None) -> None:
    """Can the API serve requests (database reachable)? (GET /ready)

    Exits 5 when the server reports it is not ready.

    Example: bldst health ready -o json | jq .ready
    """
    with api() as client:
        emit(client.ready(), output)


@app.command("status")
def status(output: OutputOpt = None) -> None:
    """Version, uptime and component status. (GET /status)

    Example: bldst health status
    """
    with api() as client:
        emit(client.status(), output)
