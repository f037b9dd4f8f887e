"""Builds over HTTP, on SQLite and PostgreSQL: lifecycle, resume, idempotency, queries."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from buildstate.server.idempotency.models import IdempotencyRecord
from buildstate.server.idempotency.service import purge_expired
from buildstate.server.state import state_of
from tests.conftest import ADMIN

ARTIFACT = {
    "artifact_storage_type": "s3",
    "artifact_storage_path": "s3://builds/p/b/state-10/base.qcow2",
    "artifact_size_bytes": 2147483648,
    "artifact_checksum": "sha256:" + "ab" * 32,
    "artifact_metadata": {"format": "qcow2"},
}


def state(
    client: TestClient,
    build_id: str,
    code: int,
    status: str = "in_progress",
    expect: int = 200,
    **extra: Any,
) -> dict[str, Any]:
    response = client.post(
        f"/builds/{build_id}/state",
        headers=ADMIN,
        json={"state_code": code, "status": status, **extra},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


def test_create_returns_the_seed_shape(client: TestClient, new_build: Any, project: str) -> None:
    build = new_build(
        created_by="jenkins",
        concourse_url="https://ci/x",
        labels={"cloud": "aws"},
        build_metadata={"commit_sha": "abc123"},
    )
    assert build["status"] == "pending"
    assert build["current_state"] == 0
    assert build["attempt"] == 1
    assert build["project_id"] == project
    assert build["labels"] == {"cloud": "aws"}
    assert build["build_metadata"] == {"commit_sha": "abc123"}
    assert build["created_by"] == "jenkins"
    history = client.get(f"/builds/{build['id']}/state", headers=ADMIN).json()["history"]
    assert [(h["state_code"], h["status"]) for h in history] == [(0, "pending")]


def test_create_checks_references_and_build_numbers(
    client: TestClient, new_build: Any, project: str
) -> None:
    body = {
        "project_id": project,
        "platform_id": "nope",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": "1",
    }
    missing = client.post("/builds", headers=ADMIN, json=body)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "platform_id: Platform with id 'nope' not found"
    client.delete("/image_types/base", headers=ADMIN)
    gone = client.post("/builds", headers=ADMIN, json={**body, "platform_id": "aws-commercial"})
    assert gone.status_code == 404
    assert "image_type_id" in gone.json()["detail"]
    assert "deactivated" in gone.json()["detail"]
    client.put("/image_types/base", headers=ADMIN, json={"name": "base"})


def test_duplicate_build_number_is_409(client: TestClient, new_build: Any) -> None:
    build = new_build()
    again = client.post(
        "/builds",
        headers=ADMIN,
        json={
            k: build[k]
            for k in ("project_id", "platform_id", "os_version_id", "image_type_id", "build_number")
        },
    )
    assert again.status_code == 409
    assert build["build_number"] in again.json()["detail"]


def test_fail_at_25_resume_from_checkpoint_10_and_complete(
    client: TestClient, new_build: Any
) -> None:
    """The product's reason to exist, end to end."""
    build_id = new_build()["id"]
    state(client, build_id, 0)
    checkpoint = state(client, build_id, 10, "completed", **ARTIFACT)
    assert checkpoint["artifact_storage_path"] == ARTIFACT["artifact_storage_path"]
    state(client, build_id, 25)
    failure = client.post(
        f"/builds/{build_id}/failure",
        headers=ADMIN,
        json={
            "state_code": 25,
            "error_message": "AMI creation timeout",
            "failure_type": "PACKER_TIMEOUT",
            "error_details": {"exit_code": 1},
            "is_retryable": True,
        },
    )
    assert failure.status_code == 201, failure.text
    assert client.get(f"/builds/{build_id}", headers=ADMIN).json()["status"] == "failed"

    plan = client.get(f"/builds/{build_id}/resume", headers=ADMIN).json()
    assert plan["can_resume"] is True
    assert plan["resume_from_state"] == 10
    assert plan["checkpoint"]["storage_path"] == ARTIFACT["artifact_storage_path"]
    assert plan["checkpoint"]["checksum"] == ARTIFACT["artifact_checksum"]
    assert plan["checkpoint"]["size_bytes"] == ARTIFACT["artifact_size_bytes"]
    assert plan["next_state"] == 25
    assert plan["skipped_states"] == [0, 10]

    resumed = client.post(f"/builds/{build_id}/resume", headers=ADMIN)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["attempt"] == 2
    assert resumed.json()["status"] == "in_progress"
    state(client, build_id, 25)
    state(client, build_id, 100, "completed")

    detail = client.get(f"/builds/{build_id}", headers=ADMIN).json()
    assert (detail["status"], detail["attempt"], detail["current_state"]) == ("completed", 2, 100)
    assert detail["failures"][0]["failure_type"] == "PACKER_TIMEOUT"
    assert detail["finished_at"] is not None
    history = client.get(f"/builds/{build_id}/state", headers=ADMIN).json()["history"]
    assert [(h["attempt"], h["state_code"], h["status"]) for h in history] == [
        (1, 0, "pending"),
        (1, 0, "in_progress"),
        (1, 10, "completed"),
        (1, 25, "in_progress"),
        (1, 25, "failed"),
        (2, 10, "in_progress"),
        (2, 25, "in_progress"),
        (2, 100, "completed"),
    ]
    artifacts = client.get(f"/builds/{build_id}/artifacts", headers=ADMIN).json()
    assert [(a["state_code"], a["is_checkpoint"]) for a in artifacts] == [(10, True)]
    frozen = client.post(
        f"/builds/{build_id}/state", headers=ADMIN, json={"state_code": 100, "status": "completed"}
    )
    assert frozen.status_code == 409


def test_a_plain_retry_after_a_retryable_failure_starts_attempt_2(
    client: TestClient, new_build: Any
) -> None:
    build_id = new_build()["id"]
    state(client, build_id, 25)
    client.post(
        f"/builds/{build_id}/failure",
        headers=ADMIN,
        json={"state_code": 25, "error_message": "flaky mirror"},
    )
    retried = state(client, build_id, 10)
    assert (retried["attempt"], retried["build_status"]) == (2, "in_progress")


def test_blocking_or_non_retryable_failures_need_an_explicit_resume(
    client: TestClient, new_build: Any, project: str
) -> None:
    for code, blocking in ((0, False), (25, True), (100, False)):
        client.post(
            f"/projects/{project}/state-codes",
            headers=ADMIN,
            json={"state_code": code, "is_blocking": blocking},
        )
    blocked = new_build()["id"]
    state(client, blocked, 25)
    client.post(
        f"/builds/{blocked}/failure",
        headers=ADMIN,
        json={"state_code": 25, "error_message": "broken", "is_retryable": True},
    )
    refused = client.post(
        f"/builds/{blocked}/state", headers=ADMIN, json={"state_code": 25, "status": "in_progress"}
    )
    assert refused.status_code == 409
    assert "blocking" in refused.json()["detail"]
    assert "/resume" in refused.json()["detail"]
    assert client.post(f"/builds/{blocked}/resume", headers=ADMIN).status_code == 200

    fatal = new_build()["id"]
    client.post(
        f"/builds/{fatal}/failure",
        headers=ADMIN,
        json={"state_code": 0, "error_message": "bad", "is_retryable": False},
    )
    assert state(client, fatal, 25, expect=409)["detail"].startswith(f"build {fatal} failed")
    undefined = state(client, new_build()["id"], 15, expect=422)
    assert undefined["detail"].endswith("allowed codes: 0, 25, 100")


def test_state_rules_over_http(client: TestClient, new_build: Any) -> None:
    build_id = new_build()["id"]
    state(client, build_id, 50)
    assert "lower than the current state 50" in state(client, build_id, 25, expect=409)["detail"]
    assert state(client, build_id, 101, expect=422)["detail"][0]["loc"] == ["body", "state_code"]
    assert state(client, build_id, 50, "done", expect=422)["detail"][0]["loc"] == ["body", "status"]
    cancelled = client.post(
        f"/builds/{build_id}/cancel", headers=ADMIN, json={"reason": "obsolete"}
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"/builds/{build_id}/cancel", headers=ADMIN).status_code == 409
    assert client.post(f"/builds/{build_id}/resume", headers=ADMIN).status_code == 409


def test_resume_from_a_chosen_checkpoint(client: TestClient, new_build: Any) -> None:
    build_id = new_build()["id"]
    state(client, build_id, 10, "completed", **ARTIFACT)
    state(client, build_id, 25, "completed", **{**ARTIFACT, "artifact_storage_path": "s3://x/25"})
    state(client, build_id, 50, "failed", message="disk full")
    assert client.get(f"/builds/{build_id}/resume", headers=ADMIN).json()["resume_from_state"] == 25
    wrong = client.post(f"/builds/{build_id}/resume", headers=ADMIN, json={"from_state": 15})
    assert wrong.status_code == 422
    assert "checkpoints: 10, 25" in wrong.json()["detail"]
    chosen = client.post(f"/builds/{build_id}/resume", headers=ADMIN, json={"from_state": 10})
    assert chosen.json()["resume_from_state"] == 10
    assert client.get(f"/builds/{build_id}", headers=ADMIN).json()["current_state"] == 10


def test_idempotency_key_replays_and_refuses_a_different_body(
    client: TestClient, new_build: Any, project: str
) -> None:
    body = {
        "project_id": project,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": "idem-1",
    }
    key = {**ADMIN, "Idempotency-Key": "k-1"}
    first = client.post("/builds", headers=key, json=body)
    second = client.post("/builds", headers=key, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    different = client.post("/builds", headers=key, json={**body, "build_number": "idem-2"})
    assert different.status_code == 422
    assert "already used" in different.json()["detail"]
    build_id = first.json()["id"]
    for _ in range(3):
        response = client.post(
            f"/builds/{build_id}/state",
            headers={**ADMIN, "Idempotency-Key": "s-1"},
            json={"state_code": 5, "status": "in_progress"},
        )
        assert response.status_code == 200
    history = client.get(f"/builds/{build_id}/state", headers=ADMIN).json()["history"]
    assert len(history) == 2  # created + one report, not three
    listed = client.get("/builds", headers=ADMIN, params={"build_number": "idem-1"})
    assert listed.headers["x-total-count"] == "1"


def test_twenty_concurrent_reporters_leave_a_consistent_history(
    live_server: str, new_build: Any
) -> None:
    build_id = new_build()["id"]
    codes = [5 * i for i in range(20)]
    random.Random(7).shuffle(codes)

    def report(code: int) -> int:
        with httpx.Client(base_url=live_server, headers=ADMIN, timeout=60) as http:
            return http.post(
                f"/builds/{build_id}/state", json={"state_code": code, "status": "in_progress"}
            ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(report, codes))
    assert set(statuses) <= {200, 409}
    with httpx.Client(base_url=live_server, headers=ADMIN) as http:
        view = http.get(f"/builds/{build_id}/state").json()
    history = view["history"]
    assert len(history) == 1 + statuses.count(200)
    reported = [h["state_code"] for h in history[1:]]
    assert reported == sorted(reported), "history went backwards"
    assert view["current_state"] == history[-1]["state_code"]


def test_list_filters_order_and_total(client: TestClient, new_build: Any, project: str) -> None:
    a = new_build(labels={"cloud": "aws", "team": "core"})
    b = new_build(labels={"cloud": "gcp"})
    c = new_build()
    client.post(
        f"/builds/{b['id']}/failure", headers=ADMIN, json={"state_code": 0, "error_message": "x"}
    )
    listed = client.get("/builds", headers=ADMIN)
    assert [x["id"] for x in listed.json()] == [c["id"], b["id"], a["id"]]
    assert listed.headers["x-total-count"] == "3"

    def ids(**params: Any) -> list[str]:
        response = client.get("/builds", headers=ADMIN, params=params)
        assert response.status_code == 200, response.text
        return [x["id"] for x in response.json()]

    assert ids(status="failed") == [b["id"]]
    assert ids(project_id=project, status="pending") == [c["id"], a["id"]]
    assert ids(label="cloud=aws") == [a["id"]]
    assert ids(label=["cloud=aws", "team=core"]) == [a["id"]]
    assert ids(label="cloud=azure") == []
    assert ids(build_number=a["build_number"]) == [a["id"]]
    assert ids(platform_id="aws-commercial", limit=1, skip=1) == [b["id"]]
    assert ids(created_after=a["created_at"]) == [c["id"], b["id"], a["id"]]
    assert ids(created_before=a["created_at"]) == []

    def total(**params: Any) -> int:
        return int(client.get("/builds", headers=ADMIN, params=params).headers["x-total-count"])

    # Totals come from counters where they can (kept in step by every move) and from
    # counting rows otherwise: both must agree with the rows.
    assert total(project_id=project) == 3
    assert total(project_id=project, status="pending") == 2
    assert total(project_id=project, status="failed") == 1
    assert total(project_id=project, status="completed") == 0
    assert total(platform_id="aws-commercial", status="failed") == 1
    assert total(project_id=project, platform_id="aws-commercial", status="failed") == 1
    assert total(project_id=project, platform_id="") == 0  # an empty value is a filter too
    bad = client.get("/builds", headers=ADMIN, params={"label": "nonsense"})
    assert bad.status_code == 422
    assert client.get("/builds", headers=ADMIN, params={"status": "weird"}).status_code == 422


def test_dashboards(client: TestClient, new_build: Any) -> None:
    done = new_build()["id"]
    state(client, done, 100, "completed")
    failed = new_build()["id"]
    client.post(
        f"/builds/{failed}/failure", headers=ADMIN, json={"state_code": 0, "error_message": "x"}
    )
    new_build()
    summary = client.get("/dashboard/summary", headers=ADMIN).json()
    assert summary == {
        "total_builds": 3,
        "active_builds": 1,
        "completed_builds": 1,
        "failed_builds": 1,
        "cancelled_builds": 0,
        "pending_builds": 1,
        "platforms": 1,
        "projects": 1,
    }
    recent = client.get("/dashboard/recent", headers=ADMIN, params={"limit": 2}).json()
    assert len(recent) == 2
    stats = client.get("/dashboard/platform/aws-commercial", headers=ADMIN).json()
    assert stats["total_builds"] == 3
    assert stats["by_status"]["completed"] == 1
    assert stats["success_rate"] == 0.5
    assert stats["mean_duration_seconds"] is not None
    assert len(stats["recent_builds"]) == 3
    assert client.get("/dashboard/platform/nope", headers=ADMIN).status_code == 404


def test_unknown_build_is_404_everywhere(client: TestClient) -> None:
    for method, path in [
        ("GET", "/builds/x"),
        ("GET", "/builds/x/state"),
        ("GET", "/builds/x/artifacts"),
        ("GET", "/builds/x/resume"),
        ("POST", "/builds/x/resume"),
        ("POST", "/builds/x/cancel"),
    ]:
        response = client.request(method, path, headers=ADMIN)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == "Build with id 'x' not found"


def test_idempotency_keys_are_forgotten_after_a_day(client: TestClient, project: str) -> None:
    db = state_of(client.app).db  # type: ignore[arg-type]
    body = {
        "project_id": project,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": "old-1",
    }
    keyed = {**ADMIN, "Idempotency-Key": "old"}
    assert client.post("/builds", headers=keyed, json=body).status_code == 201

    def age_and_purge(session: Session) -> int:
        aged = datetime.now(UTC) - timedelta(hours=25)
        session.execute(update(IdempotencyRecord).values(created_at=aged))
        return purge_expired(session)

    assert client.portal.call(db.write, age_and_purge) == 1  # type: ignore[union-attr]
    reused = client.post("/builds", headers=keyed, json={**body, "build_number": "old-2"})
    assert reused.status_code == 201


def test_concurrent_creates_of_one_build_number_give_one_201_and_409s(
    live_server: str, project: str
) -> None:
    body = {
        "project_id": project,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": "race",
    }

    def create(_: int) -> int:
        with httpx.Client(base_url=live_server, headers=ADMIN, timeout=60) as http:
            return http.post("/builds", json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(create, range(20)))
    assert statuses == [201] + [409] * 19


def test_absent_metadata_is_sql_null(client: TestClient, new_build: Any) -> None:
    build_id = new_build()["id"]
    state(client, build_id, 10, "failed")
    db = state_of(client.app).db  # type: ignore[arg-type]

    def stored(session: Session) -> list[Any]:
        rows = session.execute(
            text(
                "SELECT metadata FROM build_states "
                "UNION ALL SELECT error_details FROM build_failures"
            )
        )
        return [row[0] for row in rows]

    assert client.portal.call(db.read, stored) == [None, None, None]  # type: ignore[union-attr]


def test_opposite_transitions_on_many_builds_at_once(
    live_server: str, new_build: Any, client: TestClient
) -> None:
    """Builds moving in_progress→failed while others move failed→in_progress (same
    platform) never deadlock, and the dashboard counters match the builds."""
    running = [new_build()["id"] for _ in range(12)]
    failed = [new_build()["id"] for _ in range(12)]
    for build_id in running:
        state(client, build_id, 10)
    for build_id in failed:
        client.post(
            f"/builds/{build_id}/failure",
            headers=ADMIN,
            json={"state_code": 0, "error_message": "flaky"},
        )

    def move(job: tuple[str, str]) -> int:
        kind, build_id = job
        with httpx.Client(base_url=live_server, headers=ADMIN, timeout=60) as http:
            if kind == "fail":
                return http.post(
                    f"/builds/{build_id}/failure", json={"state_code": 10, "error_message": "x"}
                ).status_code
            return http.post(
                f"/builds/{build_id}/state", json={"state_code": 20, "status": "in_progress"}
            ).status_code

    jobs = [("fail", b) for b in running] + [("retry", b) for b in failed]
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(move, jobs))
    assert sorted(statuses) == [200] * 12 + [201] * 12
    builds = client.get("/builds", headers=ADMIN, params={"limit": 1000}).json()
    actual = {
        status: sum(b["status"] == status for b in builds)
        for status in ("pending", "in_progress", "failed", "completed", "cancelled")
    }
    summary = client.get("/dashboard/summary", headers=ADMIN).json()
    assert (summary["failed_builds"], summary["pending_builds"]) == (
        actual["failed"],
        actual["pending"],
    )
    assert summary["active_builds"] == actual["pending"] + actual["in_progress"]
    assert summary["total_builds"] == len(builds)


def test_metadata_numbers_read_back_as_written(client: TestClient, new_build: Any) -> None:
    """PostgreSQL's jsonb writes 1e300 back as its 301 digits: one build still reads
    1e300, and a page (built by the database) has the same number as JSON, as a client
    reading numbers as doubles (JavaScript) sees it."""
    numbers = {"huge": 1e300, "tiny": 1e-300, "large": 1e18, "safe": 2**53, "half": 0.5}
    build_id = new_build(build_metadata=numbers)["id"]
    one = client.get(f"/builds/{build_id}", headers=ADMIN)
    number = one.json()["build_number"]
    page = client.get("/builds", headers=ADMIN, params={"build_number": number})
    assert one.status_code == page.status_code == 200
    assert one.json()["build_metadata"] == numbers
    assert json.loads(page.text, parse_int=float)[0]["build_metadata"] == numbers
