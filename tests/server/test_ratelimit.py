"""Per-principal rate limits by route class (buildstate.server.ratelimit): a budget of
reads and one of writes per user or static key, counted on every operation (the fast
routes included), with the seed's X-RateLimit headers and the IETF draft's, and 429 with
Retry-After once spent."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.settings import Settings
from tests.conftest import ADMIN

READS, WRITES = 20, 5


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app of ``client`` (and of the shared fixtures that use it), with tight limits."""
    tight = {"rate_limit_reads": f"{READS}/minute", "rate_limit_writes": f"{WRITES}/minute"}
    return create_app(settings.model_copy(update=tight))


@pytest.fixture
def limited(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def build(new_build: Any) -> str:
    return str(new_build()["id"])


def test_reads_beyond_the_budget_get_429_with_the_headers(limited: TestClient, build: str) -> None:
    path = f"/builds/{build}"  # a fast route
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
    limited: TestClient, build: str, as_scope: Any
) -> None:
    for _ in range(READS):
        limited.get("/dashboard/summary", headers=ADMIN)
    assert limited.get("/dashboard/summary", headers=ADMIN).status_code == 429
    # Writes of the same key have a budget of their own (a fast route too)...
    report = {"state_code": 10, "status": "in_progress"}
    assert limited.post(f"/builds/{build}/state", headers=ADMIN, json=report).status_code == 200
    # ... and another principal reads on.
    reader = as_scope("read")
    answer = limited.get("/dashboard/summary", headers=reader)
    assert answer.status_code == 200
    assert int(answer.headers["X-RateLimit-Remaining"]) == READS - 1


def test_writes_are_limited_including_the_fast_ones(limited: TestClient, build: str) -> None:
    report = {"state_code": 10, "status": "in_progress"}
    statuses = [
        limited.post(f"/builds/{build}/state", headers=ADMIN, json=report).status_code
        for _ in range(WRITES + 3)
    ]
    assert statuses[-1] == 429
    assert 200 in statuses
    history = limited.get(f"/builds/{build}/state", headers=ADMIN).json()["history"]
    assert len(history) == 1 + statuses.count(200)  # a refused report wrote nothing


def test_a_request_passed_on_to_fastapi_is_counted_once(limited: TestClient, build: str) -> None:
    """The plan checks the scope, then passes an invalid body on to FastAPI, which checks
    it again: one request, one count."""
    path = f"/builds/{build}/state"
    before = limited.post(path, headers=ADMIN, json={"state_code": 10, "status": "pending"})
    invalid = limited.post(path, headers=ADMIN, json={"state_code": 101, "status": "pending"})
    assert invalid.status_code == 422
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in (before, invalid)]
    assert remaining[1] == remaining[0] - 1


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
