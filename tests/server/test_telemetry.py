"""FastAPI's OpenTelemetry is opt-in: left on, it looks the providers up on every request."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildstate.server.app import create_app
from buildstate.server.settings import Settings


@pytest.mark.parametrize(("value", "on"), [(None, False), ("false", False), ("true", True)])
def test_opentelemetry_follows_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool
) -> None:
    if value is not None:
        monkeypatch.setenv("BUILDSTATE_OPENTELEMETRY", value)
    app = create_app(Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'otel.db'}"))
    config = app._telemetry  # what FastAPI was given
    assert (config["tracing"], config["metrics"], config["logs"]) == (on, on, on)
