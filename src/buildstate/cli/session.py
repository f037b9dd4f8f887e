"""The SDK client a command talks through, and how its errors become exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from buildstate.cli.config import ConfigError, Connection, connection
from buildstate.cli.output import Exit, fail

if TYPE_CHECKING:
    from buildstate.client import BuildstateError, Client


def make_client(conn: Connection) -> Client:
    """The SDK client for ``conn`` (retries on, so a flaky network does not fail a
    pipeline). Tests replace this to inject a transport."""
    from buildstate.client import Client

    return Client(
        conn.api_url,
        api_key=conn.api_key,
        token=conn.token,
        timeout=conn.timeout,
        retry=conn.retries,
    )


@contextmanager
def api() -> Iterator[Client]:
    """``with api() as client:`` — any SDK error inside ends the command with one line
    on stderr and the matching exit code."""
    try:
        conn = connection()
    except ConfigError as exc:
        fail(str(exc))
    # httpx imports its own command-line tool (click, rich, pygments; its cost: see
    # bench/RESULTS.md) when those are installed, as they are next to Typer. This process
    # never runs it; blocking the module makes httpx fall back to its stub `httpx.main`.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from buildstate.client import BuildstateError

    try:
        with make_client(conn) as client:
            yield client
    except BuildstateError as exc:
        fail_api(exc, conn)


def fail_api(exc: BuildstateError, conn: Connection) -> None:
    from buildstate.client import (
        AuthenticationError,
        PermissionDeniedError,
        ServerError,
        UnreachableError,
    )

    if isinstance(exc, UnreachableError):
        hint = f"is the server running at {conn.api_url}? (see `bldst config show`)"
        fail(f"{exc}; {hint}", Exit.UNREACHABLE)
    if isinstance(exc, ServerError):
        fail(f"{exc}; the server failed, retry later or check its logs", Exit.SERVER)
    hint = ""
    if isinstance(exc, AuthenticationError):
        hint = "; set credentials with `bldst auth set-key` or `bldst auth login`"
    elif isinstance(exc, PermissionDeniedError):
        hint = "; these credentials lack the scope this needs"
    fail(f"{exc}{hint}", Exit.API if exc.status_code else Exit.FAILED)


def json_option(value: str | None, option: str) -> Any:
    """Parse a ``--metadata``-style option holding a JSON object."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint=option) from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter("must be a JSON object ({...})", param_hint=option)
    return parsed


def key_values(pairs: list[str] | None, option: str) -> dict[str, str] | None:
    """``--label k=v`` (repeatable) as a dict."""
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint=option)
        out[key] = value
    return out
