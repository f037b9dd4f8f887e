"""Per-principal rate limits by route class (buildstate.server.ratelimit): a budget of
reads and one of writes per user or static key, counted on every operation (the fast
routes included), with the seed's X-RateLimit headers and the IETF draft's, and 429 with
Retry-After once spent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.settings import Settings
from tests.conftest import ADMIN

READS, WRITES = 20, 5


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    tight = settings.model_copy(
        update={"rate_limit_reads": f"{READS}/minute", "rate_limit_writes": f"{WRITES}/minute"}
    )
    with TestClient(create_app(tight)) as client:
        yield client


def test_reads_beyond_the_budget_get_429_with_the_headers(
    limited: TestClient, build_for: Any
) -> None:
    path = f"/builds/{build_for(limited)}"  # a fast route
    answers = [limited.get(path, headers=ADMIN) for _ in range(READS + 10)]
    statuses = [a.status_code for a in answers]
    spent = statuses.index(429)
    assert set(statuses[:spent]) == {200}
    assert set(statuses[spent:]) == {429}
    assert spent <= READS  # the set-up's reads counted too
    first, refused = answers[0], answers[-1]
    assert first.headers["X-RateLimit-Limit"] == str(READS)
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers[:spent]]
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] == 0
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61  # epoch seconds, as the seed shows
    assert first.headers["RateLimit-Policy"] == f'"default";q={READS};w=60'
    assert first.headers["RateLimit"].startswith(f'"default";r={remaining[0]};t=')
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert f"{READS} read requests per 60 s" in refused.json()["detail"]
    assert refused.json()["request_id"]


def test_each_principal_and_route_class_has_its_own_budget(
    limited: TestClient, build_for: Any, as_scope_of: Any
) -> None:
    build = build_for(limited)
    for _ in range(READS):
        limited.get("/dashboard/summary", headers=ADMIN)
    assert limited.get("/dashboard/summary", headers=ADMIN).status_code == 429
    # Writes of the same key have a budget of their own (a fast route too)...
    report = {"state_code": 10, "status": "in_progress"}
    assert limited.post(f"/builds/{build}/state", headers=ADMIN, json=report).status_code == 200
    # ... and another principal reads on.
    reader = as_scope_of(limited, "read")
    answer = limited.get("/dashboard/summary", headers=reader)
    assert answer.status_code == 200
    assert int(answer.headers["X-RateLimit-Remaining"]) == READS - 1


def test_writes_are_limited_including_the_fast_ones(limited: TestClient, build_for: Any) -> None:
    build = build_for(limited)
    report = {"state_code": 10, "status": "in_progress"}
    statuses = [
        limited.post(f"/builds/{build}/state", headers=ADMIN, json=report).status_code
        for _ in range(WRITES + 3)
    ]
    assert statuses[-1] == 429
    assert 200 in statuses
    history = limited.get(f"/builds/{build}/state", headers=ADMIN).json()["history"]
    assert len(history) == 1 + statuses.count(200)  # a refused report wrote nothing


def test_a_request_without_a_valid_credential_is_not_counted(limited: TestClient) -> None:
    answer = limited.get("/dashboard/summary", headers={"X-API-Key": "not-a-key"})
    assert answer.status_code == 401
    assert "X-RateLimit-Limit" not in answer.headers
    assert "X-RateLimit-Limit" not in limited.get("/health").headers


def test_limits_can_be_turned_off(settings: Settings) -> None:
    off = settings.model_copy(update={"rate_limits": False})
    with TestClient(create_app(off)) as client:
        answer = client.get("/dashboard/summary", headers=ADMIN)
    assert answer.status_code == 200
    assert "X-RateLimit-Limit" not in answer.headers


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BUILDSTATE_RATE_LIMIT_READS", "lots", "is not a rate: use <count>/<second|minute"),
        ("BUILDSTATE_RATE_LIMIT_WRITES", "10/fortnight", "is not a rate"),
        ("BUILDSTATE_RATE_LIMIT_STORAGE", "redis://x:6379", "is not a rate-limit store this"),
    ],
)
def test_a_bad_limit_setting_says_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


@pytest.fixture
def build_for(project_for: Any) -> Any:
    def make(client: TestClient) -> str:
        body = {
            "project_id": project_for(client),
            "platform_id": "aws-commercial",
            "os_version_id": "rhel-9.3",
            "image_type_id": "base",
            "build_number": f"rl-{time.monotonic_ns()}",
        }
        created = client.post("/builds", headers=ADMIN, json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    return make


@pytest.fixture
def project_for() -> Any:
    def make(client: TestClient) -> str:
        created = client.post("/projects/", headers=ADMIN, json={"name": "limited"})
        if created.status_code == 409:
            return "limited"
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    return make


@pytest.fixture
def as_scope_of() -> Any:
    def make(client: TestClient, scope: str) -> dict[str, str]:
        user = client.post(
            "/users",
            headers=ADMIN,
            json={"username": f"rl-{scope}", "password": "password-123", "scopes": [scope]},
        )
        assert user.status_code == 201, user.text
        token = client.post(
            f"/users/{user.json()['id']}/tokens",
            headers=ADMIN,
            json={"name": "rl", "scopes": [scope]},
        )
        assert token.status_code == 201, token.text
        return {"X-API-Key": token.json()["token"]}

    return make
