"""Config file, secrets (keyring or file), masking and precedence; no server needed."""

from __future__ import annotations

import json
import stat
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from buildstate.cli import config
from buildstate.cli.app import create_app

runner = CliRunner()


def bldst(*args: str, input: str | None = None) -> Any:
    return runner.invoke(create_app(), list(args), input=input)


def file_data(config_dir: Path) -> dict[str, Any]:
    return dict(json.loads((config_dir / "config.json").read_text()))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_file_is_private_even_if_it_was_not(isolated_cli: Path) -> None:
    isolated_cli.mkdir(mode=0o755)
    (isolated_cli / "config.json").write_text("{}")
    (isolated_cli / "config.json").chmod(0o644)
    result = bldst("auth", "set-key", "secret-key-9876")
    assert result.exit_code == 0, result.stderr
    assert mode(isolated_cli) == 0o700
    assert mode(isolated_cli / "config.json") == 0o600
    assert file_data(isolated_cli)["api_key"] == "secret-key-9876"
    assert list(isolated_cli.iterdir()) == [isolated_cli / "config.json"]  # no temp left


def test_new_config_dir_is_created_private(isolated_cli: Path) -> None:
    result = bldst("config", "set-url", "http://build-api.example.com/")
    assert result.exit_code == 0, result.stderr
    assert mode(isolated_cli) == 0o700
    assert mode(isolated_cli / "config.json") == 0o600
    assert file_data(isolated_cli)["api_url"] == "http://build-api.example.com"
    assert result.stdout == ""  # confirmations go to stderr


@pytest.mark.parametrize(
    ("secret", "shown"),
    [("dev-key-12345", "****2345"), ("abcdefgh", "****"), ("", "****"), (None, None)],
)
def test_mask(secret: str | None, shown: str | None) -> None:
    assert config.mask(secret) == shown


def test_show_never_prints_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    bldst("auth", "set-key", "file-secret-aaaa1111")
    monkeypatch.setenv("BLDST_TOKEN", "eyJhbGciOi.payload.sig-zzzz9999")
    table = bldst("config", "show")
    as_json = bldst("config", "show", "-o", "json")
    for result in (table, as_json):
        assert result.exit_code == 0
        assert "aaaa1111" not in result.stdout
        assert "payload" not in result.stdout
    shown = json.loads(as_json.stdout)
    assert shown["api_key"] == {"value": "****1111", "source": "config file"}
    assert shown["token"] == {"value": "****9999", "source": "env BLDST_TOKEN"}
    assert shown["api_url"] == {"value": "http://localhost:8080", "source": "default"}
    assert "****1111" in table.stdout


def test_environment_beats_file(monkeypatch: pytest.MonkeyPatch) -> None:
    bldst("config", "set-url", "http://file.example")
    bldst("config", "set", "retries", "2")
    monkeypatch.setenv("BLDST_API_URL", "http://env.example")
    settings = config.resolve()
    assert settings["api_url"] == config.Setting("http://env.example", "env BLDST_API_URL")
    assert settings["retries"] == config.Setting(2, "config file")
    monkeypatch.setenv("BLDST_TIMEOUT", "soon")
    with pytest.raises(config.ConfigError, match="BLDST_TIMEOUT"):
        config.resolve()


def test_credential_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    bldst("auth", "set-key", "key-from-file")
    assert (config.connection().api_key, config.connection().token) == ("key-from-file", None)
    data = config.load_file()
    config.store_secret(data, "token", "jwt-from-login")
    data["auth_method"] = "token"
    config.save_file(data)
    assert (config.connection().api_key, config.connection().token) == (None, "jwt-from-login")
    monkeypatch.setenv("BLDST_API_KEY", "key-from-env")
    assert (config.connection().api_key, config.connection().token) == ("key-from-env", None)
    monkeypatch.delenv("BLDST_API_KEY")
    assert bldst("auth", "logout").exit_code == 0
    assert (config.connection().api_key, config.connection().token) == ("key-from-file", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "set", "timeout", "soon"), "timeout must be a float"),
        (("config", "set", "api_key", "x"), "auth set-key"),
        (("config", "set", "output", "yaml"), "output must be one of"),
        (("config", "set-url", "localhost:8080"), "must start with http"),
        (("config", "unset", "colour"), "unknown setting"),
    ],
)
def test_bad_settings_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = bldst(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_set_unset_and_path(isolated_cli: Path) -> None:
    assert bldst("config", "set", "output", "json").exit_code == 0
    assert config.resolve()["output"].value == "json"
    assert bldst("config", "unset", "output").exit_code == 0
    assert "output" not in config.resolve()
    assert bldst("config", "path").stdout.strip() == str(isolated_cli / "config.json")


def test_broken_config_file_is_one_line_error(isolated_cli: Path) -> None:
    isolated_cli.mkdir()
    (isolated_cli / "config.json").write_text("{not json")
    result = bldst("health", "check")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_set_key_from_stdin() -> None:
    result = bldst("auth", "set-key", "-", input="piped-key-4321\n")
    assert result.exit_code == 0
    assert config.connection().api_key == "piped-key-4321"
    status = json.loads(bldst("auth", "status", "-o", "json").stdout)
    assert status["method"] == "api_key"
    assert status["credential"] == "****4321"


# -- keyring ------------------------------------------------------------------------------


class FakeKeyring(types.ModuleType):
    def __init__(self, priority: float = 5, broken: bool = False) -> None:
        super().__init__("keyring")
        self.store: dict[tuple[str, str], str] = {}
        self.backend = types.SimpleNamespace(priority=priority)
        self.broken = broken

    def get_keyring(self) -> Any:
        return self.backend

    def set_password(self, service: str, name: str, value: str) -> None:
        if self.broken:
            raise RuntimeError("keyring locked")
        self.store[service, name] = value

    def get_password(self, service: str, name: str) -> str | None:
        return self.store.get((service, name))

    def delete_password(self, service: str, name: str) -> None:
        del self.store[service, name]


def test_keyring_missing_falls_back_to_file(
    monkeypatch: pytest.MonkeyPatch, isolated_cli: Path
) -> None:
    monkeypatch.delenv("BLDST_NO_KEYRING")
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring -> ImportError
    result = bldst("auth", "set-key", "no-keyring-key")
    assert "saved to the config file" in result.stderr
    assert file_data(isolated_cli)["api_key"] == "no-keyring-key"
    assert config.resolve()["api_key"].source == "config file"


def test_secrets_go_to_a_real_keyring(monkeypatch: pytest.MonkeyPatch, isolated_cli: Path) -> None:
    monkeypatch.delenv("BLDST_NO_KEYRING")
    fake = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", fake)
    result = bldst("auth", "set-key", "kr-key-5555")
    assert "saved to the keyring" in result.stderr
    assert fake.store == {("bldst", "api_key"): "kr-key-5555"}
    assert "kr-key-5555" not in (isolated_cli / "config.json").read_text()
    assert config.resolve()["api_key"] == config.Setting("kr-key-5555", "keyring")
    assert bldst("config", "unset", "api_key").exit_code == 0
    assert fake.store == {}
    assert "api_key" not in config.resolve()


@pytest.mark.parametrize(
    "fake", [FakeKeyring(priority=0), FakeKeyring(broken=True)], ids=["fail-backend", "locked"]
)
def test_unusable_keyring_falls_back_to_file(
    fake: FakeKeyring, monkeypatch: pytest.MonkeyPatch, isolated_cli: Path
) -> None:
    monkeypatch.delenv("BLDST_NO_KEYRING")
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert bldst("auth", "set-key", "fallback-key").exit_code == 0
    assert fake.store == {}
    assert file_data(isolated_cli)["api_key"] == "fallback-key"
