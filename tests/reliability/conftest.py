"""Shared helpers of the reliability suites: budgets from the environment, a clean
database per module, and a real uvicorn serving it on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from buildstate.server.app import create_app
from buildstate.server.db.base import load_models
from buildstate.server.db.engine import async_url
from buildstate.server.settings import Settings
from tests.services import free_port


def budget(name: str, default: int) -> int:
    """A test budget (examples, steps, trials) that an environment variable can raise."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def db_name(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a database URL (for reports)."""
    return "postgresql" if url.startswith("postgresql") else "sqlite"


async def _clear(url: str) -> None:
    tables = [t.name for t in reversed(load_models().metadata.sorted_tables)]
    tables = [t for t in tables if t != "instance_secrets"]
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
            else:
                for table in tables:
                    await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


def clean_settings(url: str) -> Settings:
    """Settings over an emptied database (the app seeds the development data again)."""
    asyncio.run(_clear(url))
    return relaxed_settings(url)


def relaxed_settings(url: str) -> Settings:
    """Development settings with login throttling out of the way (tests fail logins a lot)."""
    return Settings(
        DATABASE_URL=url,
        BUILDSTATE_AUTO_MIGRATE=False,
        BUILDSTATE_LOGIN_MAX_FAILURES=1_000_000,
        BUILDSTATE_LOGIN_MAX_FAILURES_PER_ADDRESS=1_000_000,
    )


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """A real uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def module_server(backend: str) -> Iterator[str]:
    """One server and one clean database for a whole module (seeding is expensive)."""
    with serve(clean_settings(backend)) as url:
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how much the reliability suites actually ran (examples, steps, trials)."""
    lines: list[str] = []
    from tests.reliability import report

    lines.extend(report.lines())
    if lines:
        terminalreporter.section("buildstate reliability")
        for line in lines:
            terminalreporter.write_line(line)
