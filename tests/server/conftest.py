"""Fixtures of the server tests."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from buildstate.server.routing.plan import PassOn, Plan


@pytest.fixture
def passed_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths a plan passed on to FastAPI's handler."""
    paths: list[str] = []
    solve = Plan.solve

    async def recording(plan: Any, request: Request) -> Any:
        try:
            return await solve(plan, request)
        except PassOn:
            paths.append(request.url.path)
            raise

    monkeypatch.setattr(Plan, "solve", recording)
    return paths
