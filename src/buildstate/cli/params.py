"""Arguments and options shared by several build commands."""

from typing import Annotated

import typer

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
