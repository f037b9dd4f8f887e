"""``bldst dashboard``: aggregate views across builds."""

from typing import Annotated

import typer

from buildstate.cli.build import BUILD_COLUMNS
from buildstate.cli.output import OutputOpt, emit
from buildstate.cli.session import api

app = typer.Typer(help="Build statistics and recent builds.", no_args_is_help=True)


@app.command("summary")
def summary(output: OutputOpt = None) -> None:
    """Counts of builds by status, platforms and projects.

    Example: bldst dashboard summary -o json | jq .failed_builds
    """
    with api() as client:
        emit(client.dashboard.summary(), output)


@app.command("recent")
def recent(
    limit: Annotated[int, typer.Option(min=1, help="How many builds.")] = 10,
    output: OutputOpt = None,
) -> None:
    """The most recently created builds.

    Example: bldst dashboard recent --limit 5
    """
    with api() as client:
        emit(client.dashboard.recent(limit=limit), output, columns=BUILD_COLUMNS)


@app.command("platform")
def platform(
    platform_id: Annotated[str, typer.Argument(help="Platform id, e.g. aws-commercial.")],
    output: OutputOpt = None,
) -> None:
    """Success rate, durations and recent builds of one platform.

    Example: bldst dashboard platform aws-commercial
    """
    with api() as client:
        stats = client.dashboard.platform(platform_id)
        emit(stats, output, nested={"recent_builds": BUILD_COLUMNS})
