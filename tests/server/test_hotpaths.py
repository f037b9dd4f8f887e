"""The hot paths (see buildstate.server.hotpaths) answer exactly as the application would:
each request goes to an app with them and to one without, on the same database, and the
two answers must be the same bytes (status, headers, body) and leave the same audit record.
Successful writes cannot repeat byte for byte (new ids, new timestamps): those are compared
field by field."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.app import create_app
from buildstate.server.db.engine import Database
from buildstate.server.hotpaths import HotPaths, HotRead
from buildstate.server.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME, Settings
from tests.conftest import ADMIN, token_headers

_requests = itertools.count()


def hot_paths_of(app: FastAPI) -> HotPaths:
    layer: Any = app.middleware_stack
    while not isinstance(layer, HotPaths):
        layer = layer.app
    return layer


@pytest.fixture
def full(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """A second app over the same database, without the hot reads (``client`` starts first,
    so the data is seeded once)."""
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotPaths]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def passed_on(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the hot reads passed on to the application."""
    hot = hot_paths_of(client.app)  # type: ignore[arg-type]
    application: ASGIApp = hot.app
    paths: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await application(scope, receive, send)

    monkeypatch.setattr(hot, "app", recording)
    return paths


@pytest.fixture
def build_id(client: TestClient, new_build: Any) -> str:
    """A build with a state, a checkpoint and a failure, so the detail has all its parts."""
    build = new_build(labels={"cloud": "aws"}, build_metadata={"commit": "abc"})
    reported = client.post(
        f"/builds/{build['id']}/state",
        headers=ADMIN,
        json={
            "state_code": 10,
            "status": "completed",
            "artifact_storage_type": "s3",
            "artifact_storage_path": "s3://b/p/state-10/base.qcow2",
        },
    )
    assert reported.status_code == 200, reported.text
    failed = client.post(
        f"/builds/{build['id']}/failure",
        headers=ADMIN,
        json={"state_code": 15, "failure_type": "PACKER_TIMEOUT", "error_message": "timed out"},
    )
    assert failed.status_code == 201, failed.text
    return str(build["id"])


def same_answer(
    client: TestClient,
    full: TestClient,
    path: str,
    headers: dict[str, str],
    method: str = "GET",
    content: bytes | None = None,
) -> int:
    request_id = f"same-{next(_requests)}"  # the one header that would differ
    sent = {**headers, "X-Request-ID": request_id}
    hot, reference = (
        app.request(method, path, headers=sent, content=content, follow_redirects=False)
        for app in (client, full)
    )
    assert hot.status_code == reference.status_code, (hot.text, reference.text)
    assert hot.content == reference.content
    assert hot.headers.multi_items() == reference.headers.multi_items()
    if method == "POST":
        audit = full.get("/audit", headers=ADMIN, params={"request_id": request_id}).json()
        assert len(audit) == 2
        assert {_audited(entry) for entry in audit} == {_audited(audit[0])}
    return hot.status_code


def _audited(entry: dict[str, Any]) -> tuple[Any, ...]:
    kept = ("actor", "credential_id", "action", "target", "outcome", "status_code")
    return tuple(entry[k] for k in kept)


def test_the_plain_reads_are_answered_hot_and_the_same(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    build_id: str,
    as_scope: Any,
) -> None:
    credentials = [
        ADMIN,
        as_scope("read"),
        token_headers(client, DEV_ADMIN_USERNAME, DEV_ADMIN_PASSWORD, scope="read"),
    ]
    passed_on.clear()  # the fixtures' own requests
    for headers in credentials:
        assert same_answer(client, full, f"/builds/{build_id}", headers) == 200
        assert same_answer(client, full, f"/builds/{build_id}?unknown=1", headers) == 200
        assert same_answer(client, full, "/dashboard/summary", headers) == 200
    assert passed_on == []
    detail = client.get(f"/builds/{build_id}", headers=ADMIN).json()
    assert detail["failures"][0]["failure_type"] == "PACKER_TIMEOUT"
    assert detail["current_state"] == 15


@pytest.mark.parametrize(
    ("path", "headers", "status", "hot"),
    [
        ("/builds/{id}", {}, 401, False),
        ("/builds/{id}", {"X-API-Key": "not-a-key"}, 401, False),
        ("/builds/{id}", {"X-API-Key": "bst_nope_nope"}, 401, False),
        ("/builds/{id}", {"Authorization": "Bearer not.a.jwt"}, 401, False),
        ("/dashboard/summary", {}, 401, False),
        ("/builds/caf%C3%A9", ADMIN, 404, False),
        ("/builds/" + "x" * 201, ADMIN, 422, False),
        ("/builds/{id}/", ADMIN, 307, False),
        ("/builds/00000000-0000-4000-8000-000000000000", ADMIN, 404, True),
    ],
)
def test_other_reads_are_answered_the_same(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    build_id: str,
    path: str,
    headers: dict[str, str],
    status: int,
    hot: bool,
) -> None:
    """Passed on to the application, or (a read that fails) rendered by its handlers."""
    path = path.replace("{id}", build_id)
    passed_on.clear()
    assert same_answer(client, full, path, headers) == status
    assert len(passed_on) == (0 if hot else 1)


def test_head_and_other_methods_are_passed_on(
    client: TestClient, full: TestClient, passed_on: list[str], build_id: str
) -> None:
    passed_on.clear()
    assert same_answer(client, full, f"/builds/{build_id}", ADMIN, method="HEAD") == 405
    assert same_answer(client, full, "/dashboard/summary", ADMIN, method="DELETE") == 405
    assert len(passed_on) == 2


STATE = b'{"state_code": 20, "status": "in_progress"}'
FENCED_STATE = b'{"state_code": 20, "status": "in_progress", "attempt": 1}'
JSON = {"Content-Type": "application/json"}
NEW_BUILD = {
    "platform_id": "aws-commercial",
    "os_version_id": "rhel-9.3",
    "image_type_id": "base",
    "labels": {"cloud": "aws"},
}


@pytest.fixture
def twins(new_build: Any) -> tuple[str, str]:
    """Two builds alike: one for each app to write to."""
    return new_build()["id"], new_build()["id"]


def test_the_plain_writes_are_answered_hot_and_alike(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    twins: tuple[str, str],
    project: str,
    as_scope: Any,
) -> None:
    credentials = [(ADMIN, False), (as_scope("write"), False), (ADMIN, True), (ADMIN, False)]
    passed_on.clear()
    for number, (credential, keyed) in enumerate(credentials):
        state = STATE if number < 3 else FENCED_STATE  # the last names its attempt
        answers = []
        for which, (app, build) in enumerate(zip((client, full), twins, strict=True)):
            # A key is the caller's: each request needs its own, or it would be a replay.
            key = f"k-{number}-{which}" if keyed else None
            body = {**NEW_BUILD, "project_id": project, "build_number": f"twin-{number}-{which}"}
            answers.append(
                (
                    app.post(
                        f"/builds/{build}/state", headers=_sent(credential, key), content=state
                    ),
                    app.post("/builds", headers=_sent(credential, key and f"{key}-new"), json=body),
                )
            )
        for hot, reference in zip(*answers, strict=True):
            assert hot.status_code == reference.status_code, (hot.text, reference.text)
            assert hot.status_code in (200, 201)
            assert _alike(hot.json()) == _alike(reference.json())
            assert _alike_headers(hot) == _alike_headers(reference)
    assert passed_on == []
    history = client.get(f"/builds/{twins[0]}/state", headers=ADMIN).json()["history"]
    assert [h["state_code"] for h in history] == [0, 20, 20, 20, 20]
    audit = client.get("/audit", headers=ADMIN, params={"action": "POST /builds/{build_id}/state"})
    assert {entry["target"] for entry in audit.json()} == {f"/builds/{b}/state" for b in twins}


def _sent(credential: dict[str, str], key: str | None) -> dict[str, str]:
    return {**credential, **JSON, **({"Idempotency-Key": key} if key else {})}


def _alike(body: dict[str, Any]) -> dict[str, Any]:
    differ = {"id", "build_id", "build_number", "timestamp", "created_at", "updated_at"}
    return {k: v for k, v in body.items() if k not in differ}


def _alike_headers(response: Any) -> list[tuple[str, str]]:
    differ = {"content-length", "x-request-id"}
    return [(k, v) for k, v in response.headers.multi_items() if k not in differ]


def test_an_idempotent_retry_is_replayed_by_the_hot_path(
    client: TestClient, passed_on: list[str], twins: tuple[str, str]
) -> None:
    keyed = {**ADMIN, **JSON, "Idempotency-Key": "retry-1"}
    passed_on.clear()
    first, again = (
        client.post(f"/builds/{twins[0]}/state", headers=keyed, content=STATE) for _ in "12"
    )
    assert passed_on == []
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    history = client.get(f"/builds/{twins[0]}/state", headers=ADMIN).json()["history"]
    assert [h["state_code"] for h in history] == [0, 20]


@pytest.mark.parametrize(
    ("headers", "content", "status", "hot"),
    [
        ({}, STATE, 401, False),
        ({"X-API-Key": "not-a-key"}, STATE, 401, False),
        (ADMIN, b'{"state_code": 101, "status": "in_progress"}', 422, False),
        (ADMIN, b'{"state_code": "20", "status": "in_progress"}', 422, False),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "extra": 1}', 422, False),
        (ADMIN, b'{"state_code": 20,', 422, False),
        (ADMIN, b"[]", 422, False),
        (ADMIN, b"", 422, False),
        (ADMIN, b'{"state_code": NaN, "status": "in_progress"}', 422, False),
        (ADMIN, b"[" * 5000 + b"]" * 5000, 422, False),  # too deep for json.loads
        ({**ADMIN, "Content-Type": "text/plain"}, STATE, 422, False),
        (
            {**ADMIN, "Content-Type": "application/json; charset=utf-8"},
            b'{"state_code": 101, "status": "in_progress"}',
            422,
            False,
        ),
        ({**ADMIN, "Idempotency-Key": ""}, STATE, 422, False),
        ({**ADMIN, "Idempotency-Key": "k" * 256}, STATE, 422, False),
        (ADMIN, b'{"state_code": 10, "status": "in_progress"}', 409, True),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": 2}', 409, True),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": 0}', 422, False),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": "1"}', 422, False),
    ],
)
def test_state_reports_refused_or_unusual_are_answered_the_same(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    twins: tuple[str, str],
    headers: dict[str, str],
    content: bytes,
    status: int,
    hot: bool,
) -> None:
    build_id = twins[0]
    moved = client.post(f"/builds/{build_id}/state", headers={**ADMIN, **JSON}, content=STATE)
    assert moved.status_code == 200, moved.text
    passed_on.clear()
    sent = {**JSON, **headers}
    path = f"/builds/{build_id}/state"
    assert same_answer(client, full, path, sent, method="POST", content=content) == status
    assert passed_on == ([] if hot else [path])


def test_writes_refused_by_the_service_are_rendered_the_same(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    twins: tuple[str, str],
    project: str,
    as_scope: Any,
) -> None:
    cancelled = client.post(f"/builds/{twins[1]}/cancel", headers=ADMIN, json={})
    assert cancelled.status_code == 200, cancelled.text
    number = client.get(f"/builds/{twins[0]}", headers=ADMIN).json()["build_number"]
    build = {**NEW_BUILD, "project_id": project, "build_number": number}
    passed_on.clear()
    cases = [
        (f"/builds/{twins[1]}/state", ADMIN, STATE, 409),
        ("/builds/00000000-0000-4000-8000-000000000000/state", ADMIN, STATE, 404),
        ("/builds", ADMIN, orjson.dumps(build), 409),
        ("/builds", ADMIN, orjson.dumps({**build, "project_id": "no-such"}), 404),
    ]
    new = {**build, "build_number": "new"}
    unusual = [
        # orjson would read 2**70 as a float (accepted); the application's decoder does not
        ("/builds", ADMIN, json.dumps({**new, "build_metadata": {"n": 2**70}}).encode(), 422),
        ("/builds", ADMIN, json.dumps({**new, "labels": {"k": 5}}).encode(), 422),
        ("/builds", ADMIN, b"\xff\xfe", 422),
    ]
    for path, headers, content, status in cases:
        sent = {**headers, **JSON}
        assert same_answer(client, full, path, sent, method="POST", content=content) == status
    assert passed_on == []
    for path, headers, content, status in unusual:
        sent = {**headers, **JSON}
        assert same_answer(client, full, path, sent, method="POST", content=content) == status
    assert passed_on == ["/builds"] * len(unusual)
    reader = {**as_scope("read"), **JSON}
    passed_on.clear()
    path = f"/builds/{twins[0]}/state"
    assert same_answer(client, full, path, reader, method="POST", content=STATE) == 403
    assert passed_on == [path]  # refused before it ran: the application answers


def test_a_hot_path_without_a_route_stops_the_start(settings: Settings) -> None:
    app = create_app(settings)
    stray = HotRead("/nowhere/{thing}", "read", lambda session, thing: b"{}")
    app.user_middleware = [
        Middleware(HotPaths, operations=[stray]) if m.cls is HotPaths else m
        for m in app.user_middleware
    ]
    with pytest.raises(LookupError, match=r"GET /nowhere/\{thing\} has no route"), TestClient(app):
        pass


def test_a_database_failure_while_checking_is_answered_by_the_application(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    build_id: str,
    as_scope: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token is looked up in the database: when that fails, the answer is the app's 503."""
    reader = as_scope("read")

    async def locked(self: Database, fn: Any) -> Any:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(Database, "lookup", locked)
    passed_on.clear()
    assert same_answer(client, full, f"/builds/{build_id}", reader) == 503
    assert same_answer(client, full, "/dashboard/summary", reader) == 503
    assert len(passed_on) == 2


def test_with_opentelemetry_every_request_goes_through_fastapi(settings: Settings) -> None:
    traced = create_app(settings.model_copy(update={"opentelemetry": True}))
    assert all(m.cls is not HotPaths for m in traced.user_middleware)
