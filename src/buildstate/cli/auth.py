"""``bldst auth``: the credential the CLI sends (API key or JWT)."""

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from buildstate.cli import config
from buildstate.cli.output import OutputOpt, emit, fail, note
from buildstate.cli.session import api

app = typer.Typer(
    help="Manage credentials: API key or username/password login.", no_args_is_help=True
)


def _save_secret(name: str, value: str, expires_at: str | None = None) -> str:
    """Store the credential and make it the one used (``auth_method``)."""
    try:
        data = config.load_file()
        where = config.store_secret(data, name, value)
        data["auth_method"] = name
        data.pop("token_expires_at", None)
        if expires_at:
            data["token_expires_at"] = expires_at
        config.save_file(data)
    except (config.ConfigError, OSError) as exc:
        fail(str(exc))
    return where


@app.command("set-key")
def set_key(
    key: Annotated[str, typer.Argument(help="The API key, or - to read it from stdin.")],
) -> None:
    """Store an API key (sent as X-API-Key). Recommended for automation.

    Examples: bldst auth set-key dev-key-12345 · echo "$KEY" | bldst auth set-key -
    """
    if key == "-":
        key = sys.stdin.readline().strip()
    if not key:
        raise typer.BadParameter("the API key is empty", param_hint="KEY")
    where = _save_secret("api_key", key)
    note(f"API key {config.mask(key)} saved to the {where}")


@app.command("login")
def login(
    username: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Default: $BLDST_PASSWORD, else prompted (hidden).", show_default=False),
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Ask for narrower scopes, e.g. 'read'.")] = None,
) -> None:
    """Log in with username and password; stores the JWT the server returns.

    Examples: bldst auth login · bldst auth login --username admin (password prompted) ·
    BLDST_PASSWORD=… bldst auth login --username ci
    """
    username = username or typer.prompt("Username")
    password = (
        password or os.environ.get("BLDST_PASSWORD") or typer.prompt("Password", hide_input=True)
    )
    with api() as client:
        answer = client.login(username, password, scope=scope)
    token = answer.get("access_token")
    if not token:
        fail("the server answered without an access_token")
    expires_at = None
    if answer.get("expires_in"):
        expires = datetime.now(UTC) + timedelta(seconds=answer["expires_in"])
        expires_at = expires.isoformat(timespec="seconds").replace("+00:00", "Z")
    where = _save_secret("token", token, expires_at)
    note(f"logged in as {username}; token saved to the {where}")


@app.command("logout")
def logout() -> None:
    """Forget the stored JWT (the API key, if any, is kept and used again).

    Example: bldst auth logout
    """
    try:
        data = config.load_file()
        config.forget_secret(data, "token")
        data.pop("token_expires_at", None)
        data["auth_method"] = "api_key"
        config.save_file(data)
    except (config.ConfigError, OSError) as exc:
        fail(str(exc))
    note("logged out")


@app.command("whoami")
def whoami(output: OutputOpt = None) -> None:
    """Ask the server who the current credential belongs to (GET /users/me).

    Example: bldst auth whoami -o json | jq -r .username
    """
    with api() as client:
        emit(client.users.me(), output)


@app.command("status")
def status(output: OutputOpt = None) -> None:
    """Show, without contacting the server, which credential would be sent.

    Example: bldst auth status
    """
    try:
        data = config.load_file()
        conn = config.connection()
        settings = config.resolve(data)
    except config.ConfigError as exc:
        fail(str(exc))
    info: dict[str, Any] = {"api_url": conn.api_url, "method": None, "credential": None}
    if conn.token:
        info.update(method="jwt", credential=config.mask(conn.token))
        info["source"] = settings["token"].source
        info["expires_at"] = data.get("token_expires_at")
    elif conn.api_key:
        info.update(method="api_key", credential=config.mask(conn.api_key))
        info["source"] = settings["api_key"].source
    emit(info, output)
    if info["method"] is None:
        note("no credential: run `bldst auth set-key KEY` or `bldst auth login`")
