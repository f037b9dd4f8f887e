"""Arguments and options shared by several build commands."""

import os
from typing import Annotated

import typer

from buildstate.cli.output import Exit, fail

BuildId = Annotated[
    str, typer.Argument(help="The build's UUID.", metavar="BUILD_ID", show_default=False)
]
IdempotencyOpt = Annotated[
    str | None,
    typer.Option(
        help="Reuse a key to make a re-run of this step a no-op (default: a new key per "
        "invocation, kept across its retries).",
        show_default=False,
    ),
]
AttemptOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="The attempt this report belongs to: the server refuses it (exit 3) once that "
        "attempt is no longer the build's current one, so a superseded worker cannot write "
        "into a newer attempt. Default: $BLDST_ATTEMPT (exported by `build resume --format "
        "env`) unless $BLDST_BUILD_ID names another build; without either, no check.",
        show_default=False,
    ),
]


def fenced_attempt(build_id: str, attempt: int | None) -> int | None:
    """``--attempt``, else ``BLDST_ATTEMPT`` if it was exported for this build (a pipeline
    may report on several builds from one shell)."""
    if attempt is not None:
        return attempt
    exported = os.environ.get("BLDST_ATTEMPT", "").strip()
    if not exported or (os.environ.get("BLDST_BUILD_ID") or build_id) != build_id:
        return None
    if not exported.isdecimal() or int(exported) < 1:
        fail(f"BLDST_ATTEMPT={exported!r} is not an attempt number (1 or more)", Exit.USAGE)
    return int(exported)
