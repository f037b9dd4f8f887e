from __future__ import annotations

import gc

from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from starlette.testclient import TestClient

from buildstate.server.state import state_of


def test_health_needs_no_credentials(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["timestamp"].endswith("Z")


def test_ready_reports_the_database(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True
    assert response.json()["database"] == "connected"


def test_status_has_version_and_uptime(client: TestClient) -> None:
    body = client.get("/status").json()
    assert body["version"]
    assert isinstance(body["uptime"], int)
    assert body["status"] == "running"


def test_ready_is_503_with_a_reason_when_the_database_is_gone(client: TestClient) -> None:
    db = state_of(client.app).db  # type: ignore[arg-type]
    real_sessions = db.backend._read_sessions
    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    db.backend._read_sessions = sessionmaker(unreachable)
    try:
        response = client.get("/ready")
    finally:
        db.backend._read_sessions = real_sessions
        unreachable.dispose()
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert "database unreachable" in response.json()["reason"]


def test_every_response_has_a_request_id(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    missing = client.get("/platforms/")
    assert missing.status_code == 401
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


def test_the_objects_of_a_started_server_are_left_out_of_garbage_collection(app: FastAPI) -> None:
    # A full collection traversing them would pause the whole server (~100 ms).
    before = gc.get_freeze_count()  # another server of this test run may have frozen some
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > max(before, 10_000)
    assert gc.get_freeze_count() == 0  # after shutdown they can be collected again
