"""Where the CLI's settings come from, and how they are stored.

Each setting is read from the environment first (``BLDST_<KEY>``: ``BLDST_API_URL``,
``BLDST_API_KEY``, ``BLDST_TOKEN``, ``BLDST_TIMEOUT``, ``BLDST_RETRIES``, ``BLDST_OUTPUT``)
then from ``config.json`` in ``platformdirs.user_config_dir("bldst")`` (or
``$BLDST_CONFIG_DIR``). The file is written 0600 in a 0700 directory. Secrets go to the
system keyring when the ``keyring`` package is installed and has a real backend, else to
the file; ``BLDST_NO_KEYRING=1`` forces the file (headless CI).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

DEFAULT_API_URL = "http://localhost:8080"
SECRETS = ("api_key", "token")
# Settings `bldst config set` accepts, with how a value is checked and converted.
PLAIN_KEYS: dict[str, type] = {"api_url": str, "timeout": float, "retries": int, "output": str}
DEFAULTS: dict[str, Any] = {"api_url": DEFAULT_API_URL, "timeout": 10.0, "retries": 4}
OUTPUTS = ("table", "json")
KEYRING_SERVICE = "bldst"


class ConfigError(Exception):
    """The configuration cannot be read or a value is invalid."""


def config_dir() -> Path:
    override = os.environ.get("BLDST_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("bldst"))


def config_path() -> Path:
    return config_dir() / "config.json"


def load_file() -> dict[str, Any]:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object; fix or delete it")
    return data


def save_file(data: dict[str, Any]) -> Path:
    """Write atomically with owner-only permissions (it may hold secrets)."""
    import tempfile

    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        path = config_path()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def convert(key: str, raw: str) -> Any:
    if key not in PLAIN_KEYS:
        known = ", ".join(PLAIN_KEYS)
        hint = " (use `bldst auth set-key` / `bldst auth login`)" if key in SECRETS else ""
        raise ConfigError(f"unknown setting {key!r}; settable: {known}{hint}")
    try:
        value = PLAIN_KEYS[key](raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be a {PLAIN_KEYS[key].__name__}, got {raw!r}") from exc
    if key == "api_url" and not str(value).startswith(("http://", "https://")):
        raise ConfigError(f"api_url must start with http:// or https://, got {raw!r}")
    if key == "output" and value not in OUTPUTS:
        raise ConfigError(f"output must be one of {', '.join(OUTPUTS)}, got {raw!r}")
    if key in ("timeout", "retries") and value <= 0:
        raise ConfigError(f"{key} must be positive, got {raw!r}")
    return value.rstrip("/") if key == "api_url" else value


def mask(secret: str | None) -> str | None:
    """Show only the last four characters of a secret."""
    if secret is None:
        return None
    return "****" + (secret[-4:] if len(secret) > 8 else "")


# -- keyring (optional) -------------------------------------------------------------------


def usable_keyring() -> ModuleType | None:
    """The ``keyring`` module when it is installed and backed by a real store."""
    if os.environ.get("BLDST_NO_KEYRING", "").lower() in ("1", "true", "yes"):
        return None
    try:
        import keyring
    except ImportError:
        return None
    try:
        priority = getattr(keyring.get_keyring(), "priority", 0)
    except Exception:
        return None
    return keyring if isinstance(priority, int | float) and priority > 0 else None


def store_secret(data: dict[str, Any], name: str, value: str) -> str:
    """Put a secret in the keyring (or the file data); returns where it went."""
    keyring = usable_keyring()
    in_keyring = set(data.get("keyring", []))
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, name, value)
        except Exception:  # a locked or broken keyring must not block a login
            keyring = None
    if keyring is not None:
        data.pop(name, None)
        in_keyring.add(name)
        where = "keyring"
    else:
        data[name] = value
        in_keyring.discard(name)
        where = "config file"
    _set_keyring_names(data, in_keyring)
    return where


def forget_secret(data: dict[str, Any], name: str) -> None:
    in_keyring = set(data.get("keyring", []))
    if name in in_keyring:
        keyring = usable_keyring()
        if keyring is not None:
            with contextlib.suppress(Exception):  # already gone is what we wanted
                keyring.delete_password(KEYRING_SERVICE, name)
        in_keyring.discard(name)
    _set_keyring_names(data, in_keyring)
    data.pop(name, None)


def _set_keyring_names(data: dict[str, Any], names: set[str]) -> None:
    """Record which secrets live in the keyring (the file then holds no copy)."""
    if names:
        data["keyring"] = sorted(names)
    else:
        data.pop("keyring", None)


def _read_secret(data: dict[str, Any], name: str) -> str | None:
    if name in data.get("keyring", []):
        keyring = usable_keyring()
        if keyring is None:
            return None
        try:
            value = keyring.get_password(KEYRING_SERVICE, name)
        except Exception:
            return None
        return value if isinstance(value, str) else None
    value = data.get(name)
    return value if isinstance(value, str) else None


# -- resolved settings --------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "env BLDST_…", "config file", "keyring" or "default"


def resolve(data: dict[str, Any] | None = None) -> dict[str, Setting]:
    """Every setting with where it came from; environment beats file beats default."""
    data = load_file() if data is None else data
    out: dict[str, Setting] = {}
    for key in (*PLAIN_KEYS, *SECRETS):
        env_name = f"BLDST_{key.upper()}"
        raw = os.environ.get(env_name)
        if raw:
            try:
                value = raw if key in SECRETS else convert(key, raw)
            except ConfigError as exc:
                raise ConfigError(f"{env_name}: {exc}") from exc
            out[key] = Setting(value, f"env {env_name}")
        elif key in SECRETS:
            value = _read_secret(data, key)
            if value is not None:
                source = "keyring" if key in data.get("keyring", []) else "config file"
                out[key] = Setting(value, source)
        elif key in data:
            out[key] = Setting(data[key], "config file")
        elif key in DEFAULTS:
            out[key] = Setting(DEFAULTS[key], "default")
    return out


@dataclass(frozen=True)
class Connection:
    api_url: str
    api_key: str | None
    token: str | None
    timeout: float
    retries: int


def connection() -> Connection:
    data = load_file()
    settings = resolve(data)
    api_key, token = _pick_credential(settings, data.get("auth_method"))
    return Connection(
        api_url=settings["api_url"].value,
        api_key=api_key,
        token=token,
        timeout=settings["timeout"].value,
        retries=settings["retries"].value,
    )


def _pick_credential(
    settings: dict[str, Setting], method: str | None
) -> tuple[str | None, str | None]:
    """One credential: an environment variable beats the file; in the file, the one set
    last (``auth_method``) wins, so `auth login` after `auth set-key` uses the JWT."""
    key, token = settings.get("api_key"), settings.get("token")
    for setting, is_token in ((token, True), (key, False)):
        if setting is not None and setting.source.startswith("env"):
            return (None, setting.value) if is_token else (setting.value, None)
    if token is not None and (key is None or method == "token"):
        return None, token.value
    return (key.value if key else None), None
