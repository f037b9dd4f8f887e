"""Fencing (issue 16, item 5), over HTTP on SQLite and PostgreSQL: a report that names its
attempt is taken only while that attempt is current, a live attempt is resumed only when
forced, and concurrent resumes of a failed build start one attempt."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.builds.models import Build
from buildstate.server.settings import Settings
from buildstate.server.state import state_of
from tests.conftest import ADMIN

CHECKPOINT = {
    "artifact_storage_type": "s3",
    "artifact_storage_path": "s3://builds/fenced/state-10.qcow2",
}


def post(client: TestClient, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    response = client.post(path, headers=ADMIN, json=body)
    assert response.status_code == expect, response.text
    return dict(response.json())


def history(client: TestClient, build_id: str) -> list[tuple[int, int, str]]:
    view = client.get(f"/builds/{build_id}/state", headers=ADMIN).json()
    return [(h["attempt"], h["state_code"], h["status"]) for h in view["history"]]


def failed_build(client: TestClient, new_build: Any) -> str:
    """A build with a checkpoint at 10 that failed (retryably) at 25 in attempt 1."""
    build_id = str(new_build()["id"])
    post(
        client,
        f"/builds/{build_id}/state",
        {"state_code": 10, "status": "completed", **CHECKPOINT},
        200,
    )
    post(client, f"/builds/{build_id}/failure", {"state_code": 25, "error_message": "x"}, 201)
    return build_id


def idle_for(client: TestClient, build_id: str, seconds: float) -> None:
    """Make the build's last change ``seconds`` old, as if its worker had gone quiet."""
    db = state_of(client.app).db  # type: ignore[arg-type]
    then = datetime.now(UTC) - timedelta(seconds=seconds)

    def age(session: Session) -> None:
        session.execute(update(Build).where(Build.id == build_id).values(updated_at=then))

    client.portal.call(db.write, age)  # type: ignore[union-attr]


def test_a_report_naming_a_superseded_attempt_is_refused(
    client: TestClient, new_build: Any
) -> None:
    build_id = failed_build(client, new_build)
    assert post(client, f"/builds/{build_id}/resume", {}, 200)["attempt"] == 2
    before = history(client, build_id)

    state = f"/builds/{build_id}/state"
    stale = post(client, state, {"state_code": 50, "status": "in_progress", "attempt": 1}, 409)
    assert stale["detail"] == (
        f"attempt 1 of build {build_id} is no longer current: the current attempt is 2 "
        "(build in_progress); a worker of attempt 1 must stop reporting"
    )
    failure = {"state_code": 50, "error_message": "late", "attempt": 1}
    assert (
        "the current attempt is 2"
        in post(client, f"/builds/{build_id}/failure", failure, 409)["detail"]
    )
    ahead = post(client, state, {"state_code": 50, "status": "in_progress", "attempt": 3}, 409)
    assert ahead["detail"].startswith(f"attempt 3 of build {build_id} has not started: ")
    assert "the current attempt is 2" in ahead["detail"]
    assert history(client, build_id) == before  # nothing recorded

    current = post(client, state, {"state_code": 25, "status": "in_progress", "attempt": 2}, 200)
    assert current["attempt"] == 2
    unfenced = post(client, state, {"state_code": 30, "status": "in_progress"}, 200)
    assert unfenced["attempt"] == 2  # no attempt named: no check, as before
    failed = post(client, f"/builds/{build_id}/failure", {**failure, "attempt": 2}, 201)
    assert (failed["attempt"], failed["state_code"]) == (2, 50)


@pytest.mark.parametrize("attempt", [0, -1, "2", 2.0, True, 2**31])
def test_an_attempt_that_is_not_a_positive_integer_is_422(
    client: TestClient, new_build: Any, attempt: Any
) -> None:
    build_id = new_build()["id"]
    body = {"state_code": 10, "status": "in_progress", "attempt": attempt}
    detail = post(client, f"/builds/{build_id}/state", body, 422)["detail"]
    assert detail[0]["loc"] == ["body", "attempt"]
    resume = post(client, f"/builds/{build_id}/resume", {"expected_attempt": attempt}, 422)
    assert resume["detail"][0]["loc"] == ["body", "expected_attempt"]


def test_a_plain_retry_naming_the_failed_attempt_starts_the_next_one_once(
    client: TestClient, new_build: Any
) -> None:
    build_id = failed_build(client, new_build)
    retry = {"state_code": 10, "status": "in_progress", "attempt": 1}
    assert post(client, f"/builds/{build_id}/state", retry, 200)["attempt"] == 2
    second = post(client, f"/builds/{build_id}/state", retry, 409)  # a second retrier
    assert "attempt 1 of build" in second["detail"]
    assert "the current attempt is 2" in second["detail"]


def test_twenty_concurrent_resumes_of_a_failed_build_start_one_attempt(
    live_server: str, client: TestClient, new_build: Any
) -> None:
    build_id = failed_build(client, new_build)
    start = threading.Barrier(20)

    def resume(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server, headers=ADMIN, timeout=60) as http:
            start.wait()
            return http.post(f"/builds/{build_id}/resume", json={})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(resume, range(20)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 19
    (won,) = [a.json() for a in answers if a.status_code == 200]
    assert (won["attempt"], won["status"]) == (2, "in_progress")
    for refused in (a.json()["detail"] for a in answers if a.status_code == 409):
        assert refused.startswith(f"build {build_id} is in progress in attempt 2, last active ")
        assert '"force": true' in refused
    assert [h for h in history(client, build_id) if h[0] == 2] == [(2, 10, "in_progress")]
    assert client.get(f"/builds/{build_id}", headers=ADMIN).json()["attempt"] == 2


def test_a_live_attempt_is_resumed_only_when_forced_or_idle(
    client: TestClient, new_build: Any
) -> None:
    build_id = new_build()["id"]
    post(client, f"/builds/{build_id}/state", {"state_code": 10, "status": "in_progress"}, 200)
    plan = client.get(f"/builds/{build_id}/resume", headers=ADMIN).json()
    assert plan["can_resume"] is False
    assert plan["reason"].startswith(f"build {build_id} is in progress in attempt 1")
    refused = post(client, f"/builds/{build_id}/resume", {}, 409)["detail"]
    assert "live for 300 s after its last activity" in refused
    assert '"force": true to supersede attempt 1' in refused

    forced = post(client, f"/builds/{build_id}/resume", {"force": True}, 200)
    assert (forced["attempt"], forced["can_resume"]) == (2, True)
    assert "live" not in forced["reason"]
    assert post(client, f"/builds/{build_id}/resume", {}, 409)["detail"].startswith(
        f"build {build_id} is in progress in attempt 2"
    )

    idle_for(client, build_id, 299)
    post(client, f"/builds/{build_id}/resume", {}, 409)
    idle_for(client, build_id, 301)  # its worker went quiet: stuck, resumable
    assert client.get(f"/builds/{build_id}/resume", headers=ADMIN).json()["can_resume"] is True
    assert post(client, f"/builds/{build_id}/resume", {}, 200)["attempt"] == 3


@pytest.fixture
def never_live(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """An app with ``BUILDSTATE_RESUME_LIVE_SECONDS=0`` over the same database."""
    app = create_app(settings.model_copy(update={"resume_live_seconds": 0}))
    with TestClient(app) as test_client:
        yield test_client


def test_the_live_period_is_a_setting(
    never_live: TestClient, client: TestClient, new_build: Any
) -> None:
    assert Settings(BUILDSTATE_RESUME_LIVE_SECONDS="60").resume_live_seconds == 60
    assert Settings().resume_live_seconds == 300
    build_id = new_build()["id"]
    post(client, f"/builds/{build_id}/state", {"state_code": 10, "status": "in_progress"}, 200)
    assert post(never_live, f"/builds/{build_id}/resume", {}, 200)["attempt"] == 2


def test_expected_attempt_makes_a_retried_resume_start_no_second_attempt(
    client: TestClient, new_build: Any
) -> None:
    """The resume's answer was lost; meanwhile its attempt 2 failed (or is live, and the
    retry forces): the retry must not start attempt 3."""
    build_id = failed_build(client, new_build)
    resume = f"/builds/{build_id}/resume"
    assert post(client, resume, {"expected_attempt": 1}, 200)["attempt"] == 2
    forced = post(client, resume, {"expected_attempt": 1, "force": True}, 409)["detail"]
    assert forced == (
        f"build {build_id} is at attempt 2 (in_progress), not at the expected attempt 1: "
        "it was resumed or retried meanwhile; nothing was changed"
    )
    failure = {"state_code": 25, "error_message": "again", "attempt": 2}
    post(client, f"/builds/{build_id}/failure", failure, 201)
    assert (
        "not at the expected attempt 1"
        in post(client, resume, {"expected_attempt": 1}, 409)["detail"]
    )
    assert post(client, resume, {"expected_attempt": 2}, 200)["attempt"] == 3
    assert [h[0] for h in history(client, build_id)].count(3) == 1
