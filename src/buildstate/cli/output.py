"""Everything the CLI writes: data to stdout (JSON or tables), messages to stderr.

``--output json`` prints exactly the API response body and nothing else, so ``jq`` can
read it. Tables use the one Rich console, created on first use so commands that print
JSON or a single record never import Rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[
    Output | None,
    typer.Option(
        "--output",
        "-o",
        help="table, or json (the API response body, for jq). Default: $BLDST_OUTPUT or table.",
        show_default=False,
    ),
]


class Exit:
    """Exit codes; documented in `bldst --help`."""

    OK = 0
    FAILED = 1  # a local check failed (config, input file)
    USAGE = 2  # Typer's code for bad options
    API = 3  # the server refused the request (4xx)
    UNREACHABLE = 4  # no answer: connection refused, DNS, TLS, timeout
    SERVER = 5  # the server failed (5xx)
    VERIFY = 6  # build resume --verify: the checkpoint is missing or differs


def fail(message: str, code: int = Exit.FAILED) -> NoReturn:
    """One line on stderr, then exit; never a traceback."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def note(message: str) -> None:
    """Progress or confirmation for humans: stderr, so stdout stays parseable."""
    sys.stderr.write(f"{message}\n")


@cache
def console() -> Console:
    from rich.console import Console

    # Off a terminal (CI logs, pipes) Rich would assume 80 columns and fold every cell.
    width = None if sys.stdout.isatty() else 200
    return Console(soft_wrap=False, width=width)


def chosen(fmt: Output | None) -> Output:
    if fmt is not None:
        return fmt
    from buildstate.cli.config import ConfigError, resolve

    try:
        setting = resolve().get("output")
    except ConfigError:
        return Output.table
    return Output(setting.value) if setting else Output.table


def emit(
    data: Any,
    fmt: Output | None,
    *,
    columns: Sequence[str] | None = None,
    nested: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Print an API result: a list as a table of ``columns``, an object as ``key value``
    lines with each list in ``nested`` shown as its own table below."""
    if chosen(fmt) is Output.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif isinstance(data, list):
        table(data, columns)
    elif isinstance(data, dict):
        nested = nested or {}
        record({k: v for k, v in data.items() if k not in nested})
        for key, cols in nested.items():
            rows = data.get(key) or []
            sys.stdout.write(f"\n{key} ({len(rows)}):\n")
            if rows:
                table(rows, cols)
    elif data is not None:
        sys.stdout.write(f"{data}\n")


def record(data: Mapping[str, Any]) -> None:
    """An object as aligned ``key  value`` lines: plain text, readable in CI logs."""
    width = max((len(key) for key in data), default=0)
    lines = (f"{key.ljust(width)}  {cell(value)}" for key, value in data.items())
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    if not rows:
        note("(none)")
        return
    from rich.table import Table

    columns = columns or list(rows[0])
    grid = Table(show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(row.get(column)) for column in columns))
    console().print(grid)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)
