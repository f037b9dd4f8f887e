"""Server configuration: one object, read from the environment.

Environment names follow the seed service README (``DATABASE_URL``, ``API_KEYS``,
``JWT_SECRET_KEY`` …); everything buildstate adds is prefixed ``BUILDSTATE_``.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from limits import parse
from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from buildstate.server.strength import GENERATE, password_weakness, secret_weakness

DEV_API_KEY = "dev-key-12345"
DEV_ADMIN_USERNAME = "admin"
DEV_ADMIN_PASSWORD = "admin123"  # noqa: S105 - the seed's documented development password
MIN_SECRET_LENGTH = 32
MIN_API_KEY_LENGTH = 24
MIN_ADMIN_PASSWORD_LENGTH = 12


class Mode(StrEnum):
    development = "development"
    production = "production"


def default_database_url() -> str:
    return f"sqlite:///{Path(user_data_dir('buildstate')) / 'buildstate.db'}"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    mode: Mode = Field(
        Mode.development,
        validation_alias=_env("BUILDSTATE_MODE"),
        description="`development` seeds the seed's example credentials and reference data; "
        "`production` refuses to start with default or weak secrets.",
    )
    database_url: str = Field(
        default_factory=default_database_url,
        validation_alias=_env("DATABASE_URL"),
        description="`sqlite:///path/to/file.db` (embedded default) or "
        "`postgresql://user:pass@host:5432/db`.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("API_KEYS"),
        description="Comma-separated static API keys, each optionally `key:scope` "
        "(scope read, write or admin; a bare key is admin). Development adds `dev-key-12345`.",
    )
    jwt_secret_key: str | None = Field(
        None,
        validation_alias=_env("JWT_SECRET_KEY"),
        description="HMAC key for JWTs and API-token hashes. Required in production (≥32 random "
        "characters; known defaults, repeated patterns and runs are refused); "
        "development generates one and keeps it in the database.",
    )
    jwt_access_token_expire_minutes: int = Field(
        60,
        ge=1,
        le=60 * 24 * 30,
        validation_alias=_env("JWT_ACCESS_TOKEN_EXPIRE_MINUTES"),
        description="Lifetime of a JWT from `POST /token`.",
    )
    jwt_issuer: str = Field(
        "buildstate", validation_alias=_env("BUILDSTATE_JWT_ISSUER"), description="JWT `iss`."
    )
    jwt_audience: str = Field(
        "buildstate-api",
        validation_alias=_env("BUILDSTATE_JWT_AUDIENCE"),
        description="JWT `aud`.",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", validation_alias=_env("LOG_LEVEL"), description="Log level."
    )
    auto_migrate: bool = Field(
        True,
        validation_alias=_env("BUILDSTATE_AUTO_MIGRATE"),
        description="Apply database migrations when the server starts.",
    )
    services: bool = Field(
        True,
        validation_alias=_env("BUILDSTATE_SERVICES"),
        description="Run the background services (idempotency-key purge) in this server; "
        "false when they run in a process of their own (`bldst services start`).",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        validation_alias=_env("BUILDSTATE_SQLITE_SYNCHRONOUS"),
        description="`FULL` keeps every acknowledged write through power loss; `NORMAL` is "
        "faster and may lose the last transactions on power loss (never corrupts).",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        validation_alias=_env("BUILDSTATE_MAX_BODY_BYTES"),
        description="Requests with a larger body get 413.",
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        validation_alias=_env("BUILDSTATE_LOGIN_MAX_FAILURES"),
        description="Failed logins per username from one client address before that pair "
        "backs off exponentially (429 with Retry-After: 1 s, 2 s, 4 s … after each further "
        "failure). The owner logging in from elsewhere is not affected.",
    )
    login_max_failures_per_address: int = Field(
        20,
        ge=1,
        validation_alias=_env("BUILDSTATE_LOGIN_MAX_FAILURES_PER_ADDRESS"),
        description="Failed logins per client address (any usernames) before logins from it "
        "back off, except for usernames that have logged in from it before.",
    )
    login_max_failures_per_user: int = Field(
        50,
        ge=1,
        validation_alias=_env("BUILDSTATE_LOGIN_MAX_FAILURES_PER_USER"),
        description="Failed logins per username (any addresses) before logins to it from "
        "addresses it has not logged in from back off; a correct password from a known "
        "address, or an admin (`DELETE /users/{id}/lockout`), ends it.",
    )
    login_window_seconds: int = Field(
        900,
        ge=1,
        validation_alias=_env("BUILDSTATE_LOGIN_WINDOW_SECONDS"),
        description="Failed logins are forgotten this long after the last one; also the "
        "longest backoff.",
    )
    auth_max_failures_per_address: int = Field(
        50,
        ge=1,
        validation_alias=_env("BUILDSTATE_AUTH_MAX_FAILURES_PER_ADDRESS"),
        description="Requests with an invalid API key or token per client address within the "
        "window before that address's credentials are checked before any routing: invalid "
        "ones get 429, valid ones go on.",
    )
    auth_max_failures_per_credential: int = Field(
        10,
        ge=1,
        validation_alias=_env("BUILDSTATE_AUTH_MAX_FAILURES_PER_CREDENTIAL"),
        description="The same, per credential (an API token's id, else the key or JWT).",
    )
    auth_failure_window_seconds: int = Field(
        60,
        ge=1,
        validation_alias=_env("BUILDSTATE_AUTH_FAILURE_WINDOW_SECONDS"),
        description="The window invalid credentials are counted in.",
    )
    password_hash_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        validation_alias=_env("BUILDSTATE_PASSWORD_HASH_CONCURRENCY"),
        description="Password hashes (logins, password changes) computed at once per worker, "
        "at a lower CPU priority than requests.",
    )
    password_hash_queue: int = Field(
        16,
        ge=0,
        validation_alias=_env("BUILDSTATE_PASSWORD_HASH_QUEUE"),
        description="Logins that may wait for a hashing slot; more get 503 with Retry-After.",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("BUILDSTATE_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"),
        description="Comma-separated addresses (or networks) of proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto are believed. Empty: none are.",
    )
    body_timeout_seconds: float = Field(
        30,
        gt=0,
        validation_alias=_env("BUILDSTATE_BODY_TIMEOUT_SECONDS"),
        description="A request body that has not fully arrived this long after the request's "
        "headers gets 408 and the connection is closed.",
    )
    keepalive_timeout_seconds: int = Field(
        5,
        ge=1,
        validation_alias=_env("BUILDSTATE_KEEPALIVE_TIMEOUT_SECONDS"),
        description="An idle keep-alive connection is closed after this long.",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        validation_alias=_env("BUILDSTATE_MAX_CONNECTIONS"),
        description="Connections (or requests in progress) per worker beyond which requests "
        "get 503; keep it below the open-file limit (`ulimit -n`).",
    )
    resume_live_seconds: int = Field(
        300,
        ge=0,
        le=7 * 24 * 3600,
        validation_alias=_env("BUILDSTATE_RESUME_LIVE_SECONDS"),
        description="An in-progress build changed within this many seconds (its "
        "`updated_at`) is live: `POST /resume` refuses it with 409 unless `force` is given. "
        "0: in-progress builds are never live.",
    )
    opentelemetry: bool = Field(
        False,
        validation_alias=_env("BUILDSTATE_OPENTELEMETRY"),
        description="FastAPI's OpenTelemetry spans and metrics, sent to the providers that "
        "`opentelemetry-instrument` (or your code) configures. Off, no request pays for "
        "looking up whether they are.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("BUILDSTATE_CORS_ORIGINS"),
        description="Comma-separated origins allowed to call the API from a browser "
        "(e.g. https://dash.example.com). Empty: CORS is off.",
    )
    rate_limits: bool = Field(
        True,
        validation_alias=_env("BUILDSTATE_RATE_LIMITS"),
        description="Limit requests per principal (user or static key) and route class.",
    )
    rate_limit_reads: str = Field(
        "6000/minute",
        validation_alias=_env("BUILDSTATE_RATE_LIMIT_READS"),
        description="Budget of read operations per principal, e.g. `6000/minute`, `100/second`.",
    )
    rate_limit_writes: str = Field(
        "3000/minute",
        validation_alias=_env("BUILDSTATE_RATE_LIMIT_WRITES"),
        description="Budget of write operations (write or admin scope) per principal.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        validation_alias=_env("BUILDSTATE_RATE_LIMIT_STORAGE"),
        description="Where the counters live: `memory://`, in each server process (a store "
        "shared by every replica, Redis, comes with the deployment).",
    )
    expose_api_docs: bool | None = Field(
        None,
        validation_alias=_env("BUILDSTATE_EXPOSE_API_DOCS"),
        description="Serve `/docs`, `/redoc` and `/openapi.json`. Unset: on in development, "
        "off in production.",
    )
    expose_status_details: bool | None = Field(
        None,
        validation_alias=_env("BUILDSTATE_EXPOSE_STATUS_DETAILS"),
        description="Say the version and the database backend in `GET /status` (null "
        "otherwise). Unset: on in development, off in production.",
    )
    admin_password: str | None = Field(
        None,
        validation_alias=_env("BUILDSTATE_ADMIN_PASSWORD"),
        description="If set and no user exists yet, an `admin` user with this password is "
        "created at start (production's way to bootstrap the first admin).",
    )

    @field_validator("api_keys", "cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _known_scopes(cls, keys: list[str]) -> list[str]:
        for entry in keys:
            scope = entry.partition(":")[2].strip().lower()
            if scope and scope not in ("read", "write", "admin"):
                raise ValueError(f"unknown scope {scope!r} in API_KEYS: use read, write or admin")
        return keys

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                if entry != "*":
                    ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} in BUILDSTATE_FORWARDED_ALLOW_IPS is not an IP address or "
                    "network (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return entries

    @field_validator("database_url")
    @classmethod
    def _bare_path_is_sqlite(cls, url: str) -> str:
        """``/app/data/builds.db`` (the seed's form) means that SQLite file."""
        return url if "://" in url else f"sqlite:///{Path(url).expanduser().resolve()}"

    @field_validator("rate_limit_reads", "rate_limit_writes")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate: use <count>/<second|minute|hour|day>, e.g. 100/minute"
            ) from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        if value != "memory://":
            raise ValueError(
                f"{value!r} is not a rate-limit store this version has: use memory:// "
                "(counters in each server process; a shared Redis store comes later)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def is_production(self) -> bool:
        return self.mode is Mode.production

    @property
    def api_docs_exposed(self) -> bool:
        return not self.is_production if self.expose_api_docs is None else self.expose_api_docs

    @property
    def status_details_exposed(self) -> bool:
        if self.expose_status_details is None:
            return not self.is_production
        return self.expose_status_details

    @property
    def effective_api_keys(self) -> list[str]:
        if self.is_production or DEV_API_KEY in self.api_keys:
            return list(self.api_keys)
        return [*self.api_keys, DEV_API_KEY]

    def production_problems(self) -> list[str]:
        """What stops this configuration from running in production, as instructions."""
        problems: list[str] = []
        if self.jwt_secret_key is None:
            problems.append(
                f"set JWT_SECRET_KEY to at least {MIN_SECRET_LENGTH} random characters; "
                f"generate one with {GENERATE}"
            )
        elif why := secret_weakness(self.jwt_secret_key, min_length=MIN_SECRET_LENGTH, min_bits=64):
            problems.append(
                f"JWT_SECRET_KEY {why}: use at least {MIN_SECRET_LENGTH} random characters; "
                f"generate one with {GENERATE}"
            )
        for position, key in enumerate(self.api_keys, start=1):
            raw = key.partition(":")[0]
            if why := secret_weakness(raw, min_length=MIN_API_KEY_LENGTH, min_bits=48):
                problems.append(
                    f"API_KEYS entry {position} (api-key:{position}) {why}: use keys of at "
                    f"least {MIN_API_KEY_LENGTH} random characters; generate one with {GENERATE}"
                )
        if "*" in self.cors_origins:
            problems.append("BUILDSTATE_CORS_ORIGINS must list origins; '*' is refused")
        if self.admin_password is not None and (
            why := password_weakness(self.admin_password, min_length=MIN_ADMIN_PASSWORD_LENGTH)
        ):
            problems.append(
                f"BUILDSTATE_ADMIN_PASSWORD {why}: use at least {MIN_ADMIN_PASSWORD_LENGTH} "
                "characters that are not a common password, a repeated pattern or a run "
                "(a passphrase of several unrelated words works)"
            )
        return problems
