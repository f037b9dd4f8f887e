"""``bldst config``: where the CLI finds the API and how it talks to it."""

from typing import Annotated

import typer

from buildstate.cli import config
from buildstate.cli.output import Output, OutputOpt, chosen, emit, fail, note

app = typer.Typer(
    help="Show and change CLI settings (API URL, timeout, retries, output).",
    no_args_is_help=True,
)


def update_file(key: str, value: object) -> None:
    try:
        data = config.load_file()
        data[key] = value
        path = config.save_file(data)
    except (config.ConfigError, OSError) as exc:
        fail(str(exc))
    note(f"{key} = {value} (saved to {path})")


@app.command("set-url")
def set_url(url: Annotated[str, typer.Argument(help="Base URL of the buildstate API.")]) -> None:
    """Set the API base URL.

    Example: bldst config set-url http://localhost:8080
    """
    try:
        value = config.convert("api_url", url)
    except config.ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="URL") from exc
    update_file("api_url", value)


@app.command("set")
def set_value(
    key: Annotated[str, typer.Argument(help="api_url, timeout, retries or output.")],
    value: Annotated[str, typer.Argument(help="The new value.")],
) -> None:
    """Set a setting.

    Examples: bldst config set timeout 30 · bldst config set retries 6 ·
    bldst config set output json
    """
    try:
        converted = config.convert(key, value)
    except config.ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="KEY/VALUE") from exc
    update_file(key, converted)


@app.command("unset")
def unset(
    key: Annotated[str, typer.Argument(help="A setting, or api_key / token to forget it.")],
) -> None:
    """Remove a setting from the config file (and the keyring for secrets).

    Example: bldst config unset timeout
    """
    if key not in (*config.PLAIN_KEYS, *config.SECRETS):
        raise typer.BadParameter(f"unknown setting {key!r}", param_hint="KEY")
    try:
        data = config.load_file()
        if key in config.SECRETS:
            config.forget_secret(data, key)
        else:
            data.pop(key, None)
        config.save_file(data)
    except (config.ConfigError, OSError) as exc:
        fail(str(exc))
    note(f"{key} unset")


@app.command("show")
def show(output: OutputOpt = None) -> None:
    """Show every setting, where it comes from (env, config file, keyring, default).

    Secrets are masked to their last four characters.

    Example: bldst config show -o json
    """
    try:
        settings = config.resolve()
    except config.ConfigError as exc:
        fail(str(exc))
    shown = {
        key: {
            "value": config.mask(s.value) if key in config.SECRETS else s.value,
            "source": s.source,
        }
        for key, s in settings.items()
    }
    shown["config_file"] = {"value": str(config.config_path()), "source": "-"}
    if chosen(output) is Output.json:
        emit(shown, output)
    else:
        emit([{"setting": key, **s} for key, s in shown.items()], output)


@app.command("path")
def path() -> None:
    """Print the config file's path.

    Example: cat "$(bldst config path)"
    """
    typer.echo(str(config.config_path()))
