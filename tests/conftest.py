"""Shared fixtures: every test runs against a real, migrated SQLite file and a real
PostgreSQL server (started here on a free loopback port), through the real app."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.db.database import driver_url
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.models import metadata
from buildstate.server.settings import DEV_API_KEY, Settings
from tests.services import (
    IN_CI,
    UNREACHED_RATE_LIMITS,
    ServiceUnavailable,
    create_database,
    free_port,
    postgres_cluster,
    serve,
    wait_for_port,
)

ADMIN = {"X-API-Key": DEV_API_KEY}
BACKENDS = ["sqlite", "postgresql"]

# The property tests (Hypothesis, schemathesis) draw the same examples on every run, so a
# red build stays red when rerun ("repro"). `make fuzz` sets BUILDSTATE_FUZZ_SEED (and
# passes it as --hypothesis-seed): fresh examples, reproducible from the seed it prints.
FUZZ_SEED = os.environ.get("BUILDSTATE_FUZZ_SEED", "").strip() or None
hypothesis.settings.register_profile("repro", derandomize=True, database=None)
hypothesis.settings.register_profile("fuzz", derandomize=False, database=None, print_blob=True)
hypothesis.settings.load_profile("fuzz" if FUZZ_SEED else "repro")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="Run against only these databases (default: both).",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or BACKENDS
        if metafunc.definition.get_closest_marker("postgres_only"):
            chosen = [b for b in chosen if b == "postgresql"]
        metafunc.parametrize("backend", chosen, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database URL for one backend, shared by the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'buildstate.db'}"
        upgrade_database(Settings(DATABASE_URL=url))
        yield url
        return
    external = os.environ.get("BUILDSTATE_TEST_POSTGRES_URL")
    if external:
        upgrade_database(Settings(DATABASE_URL=external))
        yield external
        return
    try:
        cluster = postgres_cluster()
        url = create_database(cluster.__enter__(), "buildstate_test")
    except ServiceUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        upgrade_database(Settings(DATABASE_URL=url))
        yield url
    finally:
        cluster.__exit__(None, None, None)


def _tables_to_clear() -> list[str]:
    keep = {"instance_secrets"}
    tables = reversed(metadata.sorted_tables)
    return [t.name for t in tables if t.name not in keep]


def _clear(url: str) -> None:
    """Empty every table (and restart PostgreSQL's id sequences), in one transaction.

    DELETE, not TRUNCATE: on these small tables TRUNCATE's file work costs PostgreSQL
    ~100 ms per test against ~7 ms (measured). A transaction rolled back after each test
    (as some projects do) cannot work here: the app writes through its own writer thread
    and connections, and tests start real servers and processes that read what it
    committed."""
    engine = create_engine(driver_url(url))
    try:
        with engine.begin() as conn:
            for table in _tables_to_clear():
                conn.execute(text(f"DELETE FROM {table}"))
            if conn.dialect.name == "postgresql":
                ours = "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
                for sequence in conn.scalars(text(ours)).all():
                    conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
    finally:
        engine.dispose()


def relaxed_settings(url: str) -> Settings:
    """Development settings for tests. Login limits are generous: tests log in and fail
    logins often (test_audit.py checks the limits with its own settings)."""
    return Settings(
        DATABASE_URL=url,
        BUILDSTATE_AUTO_MIGRATE=False,
        BUILDSTATE_LOGIN_MAX_FAILURES=1_000_000,
        BUILDSTATE_LOGIN_MAX_FAILURES_PER_ADDRESS=1_000_000,
        BUILDSTATE_LOGIN_MAX_FAILURES_PER_USER=1_000_000,
        BUILDSTATE_AUTH_MAX_FAILURES_PER_ADDRESS=1_000_000,
        **UNREACHED_RATE_LIMITS,
    )


def clean_settings(url: str) -> Settings:
    """Settings over an emptied database (every table but the instance secret; the app
    seeds the development data again when it starts)."""
    _clear(url)
    return relaxed_settings(url)


@pytest.fixture
def settings(backend: str) -> Settings:
    return clean_settings(backend)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """A real uvicorn on a free loopback port serving its own app instance (its own event
    loop and connection pools) over the same database as ``client``; yields the base URL."""
    with serve(create_app(settings)) as url:
        yield url


@contextmanager
def bldst_server(database_url: str, log: Path, **env: str) -> Iterator[str]:
    """``bldst server start`` as a real process (development mode) on a free port, over
    ``database_url`` with ``env`` added to the environment; yields its base URL."""
    port = free_port()
    bldst = Path(sys.executable).with_name("bldst")
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
        **UNREACHED_RATE_LIMITS,
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bldst), "server", "start", "--port", str(port)],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            pytest.fail(f"bldst server start did not listen: {log.read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def server_process(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``bldst server start`` over the test database (see :func:`bldst_server`)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with bldst_server(settings.database_url, log) as url:
        yield url


def token_headers(
    client: TestClient, username: str, password: str, scope: str | None = None
) -> dict[str, str]:
    form: dict[str, Any] = {"username": username, "password": password}
    if scope:
        form["scope"] = scope
    response = client.post("/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def as_scope(client: TestClient) -> Any:
    """``as_scope("write")`` → headers of a fresh user's API token with exactly that level."""
    made: dict[str, dict[str, str]] = {}

    def make(scope: str) -> dict[str, str]:
        if scope not in made:
            scopes = {
                "read": ["read"],
                "write": ["read", "write"],
                "admin": ["read", "write", "admin"],
            }[scope]
            user = client.post(
                "/users",
                headers=ADMIN,
                json={"username": f"{scope}-user", "password": "password-123", "scopes": scopes},
            )
            assert user.status_code == 201, user.text
            token = client.post(
                f"/users/{user.json()['id']}/tokens",
                headers=ADMIN,
                json={"name": scope, "scopes": scopes},
            )
            assert token.status_code == 201, token.text
            made[scope] = {"X-API-Key": token.json()["token"]}
        return made[scope]

    return make


@pytest.fixture
def project(client: TestClient) -> str:
    response = client.post("/projects/", headers=ADMIN, json={"name": "rhel-9-base"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def new_build(client: TestClient, project: str) -> Any:
    counter = iter(range(1, 10_000))

    def make(**extra: Any) -> dict[str, Any]:
        body = {
            "project_id": project,
            "platform_id": "aws-commercial",
            "os_version_id": "rhel-9.3",
            "image_type_id": "base",
            "build_number": f"2024.02.{next(counter):03d}",
            **extra,
        }
        response = client.post("/builds", headers=ADMIN, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make
