"""Background services: started by the lifespan unless BUILDSTATE_SERVICES=false, or on
their own with ``bldst services start``; a failing round is retried, never fatal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, update
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.db.database import driver_url
from buildstate.server.idempotency.models import IdempotencyRecord
from buildstate.server.services.base import LoopService, running
from buildstate.server.services.purge import IdempotencyPurge
from buildstate.server.settings import Settings
from buildstate.server.state import state_of
from tests.conftest import ADMIN
from tests.services import build_body


class Flaky(LoopService):
    name = "flaky"
    description = "fails every other round"

    rounds = 0

    @property
    def interval(self) -> float:
        return 0.01

    async def run_once(self) -> None:
        type(self).rounds += 1
        if self.rounds % 2:
            raise RuntimeError("a round failed")


class Disabled(Flaky):
    name = "disabled"

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return False


def test_a_service_runs_at_start_and_again_after_a_failed_round(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with running((Flaky, Disabled), settings, db=None) as services:  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
        stopped_at = Flaky.rounds
        await asyncio.sleep(0.05)  # stopped: no round after the exit
        assert Flaky.rounds == stopped_at
        return [s.name for s in services], stopped_at

    Flaky.rounds = 0
    names, rounds = asyncio.run(scenario())
    assert names == ["flaky"]
    assert rounds >= 4  # kept going after its failed rounds
    assert "flaky failed; next try in 0 s" in caplog.text


def _aged_keys(url: str) -> int:
    """Age every idempotency key past its lifetime; how many there are."""
    engine = create_engine(driver_url(url))
    try:
        with engine.begin() as connection:
            aged = datetime.now(UTC) - timedelta(hours=25)
            connection.execute(update(IdempotencyRecord).values(created_at=aged))
            return int(connection.scalar(select(func.count()).select_from(IdempotencyRecord)))
    finally:
        engine.dispose()


def _keyed_create(client: TestClient, project: str, key: str) -> None:
    body = build_body(project, f"services-{key}")
    answer = client.post("/builds", headers={**ADMIN, "Idempotency-Key": key}, json=body)
    assert answer.status_code == 201, answer.text


def test_the_lifespan_runs_the_purge_and_it_forgets_old_keys(
    client: TestClient, settings: Settings, project: str
) -> None:
    services = state_of(client.app).services  # type: ignore[arg-type]
    assert [s.name for s in services] == ["idempotency-purge"]
    _keyed_create(client, project, "old")
    assert _aged_keys(settings.database_url) == 1
    [purge] = state_of(client.app).services  # type: ignore[arg-type]
    assert isinstance(purge, IdempotencyPurge)
    client.portal.call(purge.run_once)  # type: ignore[union-attr]
    assert _aged_keys(settings.database_url) == 0


def test_a_server_without_services_runs_none(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"services": False}))
    with TestClient(app):
        assert state_of(app).services == []


def test_bldst_services_start_runs_them_apart_until_sigterm(
    client: TestClient, settings: Settings, project: str, tmp_path: Path
) -> None:
    _keyed_create(client, project, "apart")
    assert _aged_keys(settings.database_url) == 1
    bldst = Path(sys.executable).with_name("bldst")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "info"}
    log = tmp_path / "services.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bldst), "services", "start"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(300):  # its first round runs at start
            if "forgot 1 expired idempotency keys" in log.read_text():
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        assert _aged_keys(settings.database_url) == 0, log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "services: idempotency-purge" in log.read_text()
