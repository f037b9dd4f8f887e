"""Shared helpers of the reliability suites: budgets from the environment, and one clean
database per module served by a real uvicorn (the helpers of ``tests/conftest.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from buildstate.server.app import create_app
from tests.conftest import clean_settings
from tests.services import serve


def budget(name: str, default: int) -> int:
    """A test budget (examples, steps, trials) that an environment variable can raise."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def db_name(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a database URL (for reports)."""
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.fixture(scope="module")
def module_server(backend: str) -> Iterator[str]:
    """One server and one clean database for a whole module (seeding is expensive)."""
    with serve(create_app(clean_settings(backend))) as url:
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
