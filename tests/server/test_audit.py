"""The audit log, login throttling and CORS."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.settings import Settings
from tests.conftest import ADMIN


def test_every_write_and_login_is_audited(client: TestClient, as_scope: Any) -> None:
    created = client.post(
        "/platforms/", headers={**ADMIN, "X-Request-ID": "req-1"}, json={"name": "gcp"}
    )
    assert created.status_code == 201
    client.post("/token", data={"username": "admin", "password": "wrong"})
    client.post("/token", data={"username": "admin", "password": "admin123"})
    client.delete("/platforms/gcp", headers=as_scope("read"))
    client.post("/platforms/", headers=ADMIN, json={"name": "gcp"})  # duplicate: 409
    client.get("/platforms/", headers=ADMIN)  # reads are not audited

    records = client.get("/audit", headers=ADMIN, params={"limit": 1000}).json()
    by_request = {r["request_id"]: r for r in records}
    first = by_request["req-1"]
    assert first["action"] == "POST /platforms/"
    assert first["target"] == "/platforms/"
    assert first["outcome"] == "success"
    assert first["status_code"] == 201
    assert first["actor"].startswith("api-key:")
    assert first["client_address"]
    logins = [r for r in records if r["action"] == "POST /token"]
    assert sorted(r["outcome"] for r in logins) == ["success", "unauthenticated"]
    assert {r["actor"] for r in logins} == {"admin"}
    denied = next(r for r in records if r["action"] == "DELETE /platforms/{entry_id}")
    assert (denied["outcome"], denied["status_code"], denied["actor"]) == (
        "forbidden",
        403,
        "read-user",
    )
    assert any(r["outcome"] == "conflict" for r in records)
    assert all(not r["action"].startswith("GET") for r in records)


def test_audit_is_admin_only_read_only_and_filterable(client: TestClient, as_scope: Any) -> None:
    client.post("/platforms/", headers=ADMIN, json={"name": "azure"})
    assert client.get("/audit", headers=as_scope("write")).status_code == 403
    assert client.delete("/audit", headers=ADMIN).status_code == 405
    assert client.put("/audit", headers=ADMIN, json={}).status_code == 405
    only = client.get("/audit", headers=ADMIN, params={"action": "POST /platforms/"})
    assert only.headers["x-total-count"] == "1"
    assert client.get("/audit", headers=ADMIN, params={"since": "2020-01-01"}).status_code == 422
    assert (
        client.get("/audit", headers=ADMIN, params={"since": "2020-01-01T00:00:00Z"}).status_code
        == 200
    )


def test_failed_logins_back_off_per_address_and_user(settings: Settings) -> None:
    """From one address (the test client's); tests/server/test_login_throttle.py has the
    rest (other addresses, the account lockout)."""
    strict = settings.model_copy(
        update={"login_max_failures": 3, "login_max_failures_per_address": 5}
    )
    with TestClient(create_app(strict)) as client:
        for _ in range(3):
            assert (
                client.post("/token", data={"username": "admin", "password": "nope"}).status_code
                == 401
            )
        blocked = client.post("/token", data={"username": "admin", "password": "admin123"})
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert "retry in" in blocked.json()["detail"]
        # Another user from the same address is still fine until the address limit.
        for name in ("bob", "dave"):
            made = client.post(
                "/users", headers=ADMIN, json={"username": name, "password": f"{name}-password"}
            )
            assert made.status_code == 201
        assert (
            client.post("/token", data={"username": "bob", "password": "bob-password"}).status_code
            == 200
        )
        for _ in range(2):
            client.post("/token", data={"username": "carol", "password": "x"})
        # Over the address's limit: bob has logged in from here before, dave has not.
        dave = client.post("/token", data={"username": "dave", "password": "dave-password"})
        assert dave.status_code == 429
        assert "this address" in dave.json()["detail"]
        assert (
            client.post("/token", data={"username": "bob", "password": "bob-password"}).status_code
            == 200
        )
        # API keys never go through the login path: pipelines are unaffected.
        assert client.get("/builds", headers=ADMIN).status_code == 200


def test_cors_is_off_unless_configured(client: TestClient, settings: Settings) -> None:
    preflight = {"Origin": "https://dash.example.com", "Access-Control-Request-Method": "GET"}
    off = client.options("/builds", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    allowed = settings.model_copy(update={"cors_origins": ["https://dash.example.com"]})
    with TestClient(create_app(allowed)) as cors_client:
        on = cors_client.options("/builds", headers=preflight)
        assert on.headers["access-control-allow-origin"] == "https://dash.example.com"
        other = cors_client.options("/builds", headers={**preflight, "Origin": "https://evil"})
        assert "access-control-allow-origin" not in other.headers
