"""Fast routes (see buildstate.server.routing) answer exactly as FastAPI's handler would:
each request goes to an app with the compiled plans and to one without, on the same
database, and the two answers must be the same bytes (status, headers, body) and leave the
same audit record. Successful writes cannot repeat byte for byte (new ids, new timestamps):
those are compared field by field, with the rows they wrote and the commit hooks they ran."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.auth.principal import Principal
from buildstate.server.db.database import Database
from buildstate.server.db.hooks import Change
from buildstate.server.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME, Settings
from buildstate.server.state import state_of
from tests.conftest import ADMIN, token_headers

_requests = itertools.count()
FAST = {
    ("GET", "/builds/{build_id}"),
    ("GET", "/dashboard/summary"),
    ("POST", "/builds"),
    ("POST", "/builds/{build_id}/state"),
}


@pytest.fixture
def full(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """A second app over the same database, without compiled plans: FastAPI's handler
    answers every request (``client`` starts first, so the data is seeded once)."""
    app = create_app(settings)
    app.state.fast_routes = {}
    with TestClient(app) as test_client:
        yield test_client


def test_the_fast_routes_are_the_ones_marked(client: TestClient) -> None:
    table = client.app.state.fast_routes  # type: ignore[attr-defined]
    dispatched = {(method, entry.route.path) for method in table for entry in table[method]}
    assert dispatched == FAST


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
    planned, reference = (
        app.request(method, path, headers=sent, content=content, follow_redirects=False)
        for app in (client, full)
    )
    assert planned.status_code == reference.status_code, (planned.text, reference.text)
    assert planned.content == reference.content
    assert _same_headers(planned) == _same_headers(reference)
    if method == "POST":
        audit = full.get("/audit", headers=ADMIN, params={"request_id": request_id}).json()
        assert len(audit) == 2
        assert {_audited(entry) for entry in audit} == {_audited(audit[0])}
    return planned.status_code


def _audited(entry: dict[str, Any]) -> tuple[Any, ...]:
    kept = ("actor", "credential_id", "action", "target", "outcome", "status_code")
    return tuple(entry[k] for k in kept)


def test_the_plain_reads_are_answered_by_the_plan_and_the_same(
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
    ("path", "headers", "status", "passes_on"),
    [
        ("/builds/{id}", {}, 401, False),  # raised by the credential check, as in FastAPI
        ("/builds/{id}", {"X-API-Key": "not-a-key"}, 401, False),
        ("/builds/{id}", {"X-API-Key": "bst_nope_nope"}, 401, False),
        ("/builds/{id}", {"Authorization": "Bearer not.a.jwt"}, 401, False),
        ("/dashboard/summary", {}, 401, False),
        ("/builds/caf%C3%A9", ADMIN, 404, False),
        ("/builds/" + "x" * 201, ADMIN, 422, True),  # FastAPI's handler words the 422
        ("/builds/{id}/", ADMIN, 307, False),  # no route matches: no plan is involved
        ("/builds/00000000-0000-4000-8000-000000000000", ADMIN, 404, False),
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
    passes_on: bool,
) -> None:
    """Answered by the plan (its errors rendered by the app's handlers), or passed on."""
    path = path.replace("{id}", build_id)
    passed_on.clear()
    assert same_answer(client, full, path, headers) == status
    assert passed_on == ([path.partition("?")[0]] if passes_on else [])


def test_head_and_other_methods_are_answered_the_same(
    client: TestClient, full: TestClient, passed_on: list[str], build_id: str
) -> None:
    passed_on.clear()
    assert same_answer(client, full, f"/builds/{build_id}", ADMIN, method="HEAD") == 405
    assert same_answer(client, full, "/dashboard/summary", ADMIN, method="DELETE") == 405
    assert passed_on == []  # the router answers: no route of that method


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


def test_the_plain_writes_are_answered_by_the_plan_alike(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    twins: tuple[str, str],
    project: str,
    as_scope: Any,
) -> None:
    credentials = [(ADMIN, False), (as_scope("write"), False), (ADMIN, True), (ADMIN, False)]
    committed: tuple[list[tuple[str, ...]], list[tuple[str, ...]]] = ([], [])
    for app, seen in zip((client, full), committed, strict=True):
        state_of(app.app).hooks.after_commit.append(  # type: ignore[arg-type]
            lambda change, seen=seen: seen.append(_committed(change))
        )
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
        for planned, reference in zip(*answers, strict=True):
            assert planned.status_code == reference.status_code, (planned.text, reference.text)
            assert planned.status_code in (200, 201)
            assert _alike(planned.json()) == _alike(reference.json())
            assert _alike_headers(planned) == _alike_headers(reference)
    assert passed_on == []
    # The same commit hooks ran, with the same kind of result, and the same rows were written.
    assert committed[0] == committed[1]
    assert len(committed[0]) == 2 * len(credentials)
    histories = [
        [_alike(h) for h in client.get(f"/builds/{b}/state", headers=ADMIN).json()["history"]]
        for b in twins
    ]
    assert histories[0] == histories[1]
    assert [h["state_code"] for h in histories[0]] == [0, 20, 20, 20, 20]
    audit = client.get("/audit", headers=ADMIN, params={"action": "POST /builds/{build_id}/state"})
    assert sorted(entry["target"] for entry in audit.json()) == sorted(
        f"/builds/{b}/state" for b in twins for _ in credentials
    )
    created = [
        client.get("/builds", headers=ADMIN, params={"build_number": f"twin-2-{which}"}).json()
        for which in (0, 1)
    ]
    assert [_alike(b) for [b] in created[:1]] == [_alike(b) for [b] in created[1:]]


def _committed(change: Change) -> tuple[str, ...]:
    route = change.scope["route"]
    return (change.scope["method"], route.path, type(change.result).__name__)


def _sent(credential: dict[str, str], key: str | None) -> dict[str, str]:
    return {**credential, **JSON, **({"Idempotency-Key": key} if key else {})}


def _alike(body: dict[str, Any]) -> dict[str, Any]:
    differ = {"id", "build_id", "build_number", "timestamp", "created_at", "updated_at"}
    differ |= {"duration_seconds", "started_at"}
    return {k: v for k, v in body.items() if k not in differ}


def _alike_headers(response: Any) -> list[tuple[str, str]]:
    return [
        (k, v) for k, v in _same_headers(response) if k not in ("content-length", "x-request-id")
    ]


# Each app counts its own rate limits: how much is left, and when, differs.
_COUNTED = {"x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit"}


def _same_headers(response: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k not in _COUNTED]


def test_an_idempotent_retry_is_replayed_by_the_plan(
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
    ("headers", "content", "status", "passes_on"),
    [
        ({}, STATE, 401, False),
        ({"X-API-Key": "not-a-key"}, STATE, 401, False),
        (ADMIN, b'{"state_code": 101, "status": "in_progress"}', 422, True),
        (ADMIN, b'{"state_code": "20", "status": "in_progress"}', 422, True),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "extra": 1}', 422, True),
        (ADMIN, b'{"state_code": 20,', 422, True),
        (ADMIN, b"[]", 422, True),
        (ADMIN, b"", 422, True),
        (ADMIN, b'{"state_code": NaN, "status": "in_progress"}', 422, True),
        (ADMIN, b"[" * 5000 + b"]" * 5000, 422, True),  # too deep for json.loads
        ({**ADMIN, "Content-Type": "text/plain"}, STATE, 422, True),
        (
            {**ADMIN, "Content-Type": "application/json; charset=utf-8"},
            b'{"state_code": 101, "status": "in_progress"}',
            422,
            True,
        ),
        ({**ADMIN, "Idempotency-Key": ""}, STATE, 422, True),
        ({**ADMIN, "Idempotency-Key": "k" * 256}, STATE, 422, True),
        (ADMIN, b'{"state_code": 10, "status": "in_progress"}', 409, False),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": 2}', 409, False),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": 0}', 422, True),
        (ADMIN, b'{"state_code": 20, "status": "in_progress", "attempt": "1"}', 422, True),
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
    passes_on: bool,
) -> None:
    build_id = twins[0]
    moved = client.post(f"/builds/{build_id}/state", headers={**ADMIN, **JSON}, content=STATE)
    assert moved.status_code == 200, moved.text
    passed_on.clear()
    sent = {**JSON, **headers}
    path = f"/builds/{build_id}/state"
    assert same_answer(client, full, path, sent, method="POST", content=content) == status
    assert passed_on == ([path] if passes_on else [])


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
    assert passed_on == []  # refused by the scope check, in the plan as in FastAPI


def test_a_database_failure_while_checking_is_answered_the_same(
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
    assert passed_on == []


def test_tracing_does_not_change_the_code_path(settings: Settings) -> None:
    traced = create_app(settings.model_copy(update={"opentelemetry": True}))
    assert sum(map(len, traced.state.fast_routes.values())) == len(FAST)


def test_dependency_overrides_are_honoured(client: TestClient, build_id: str) -> None:
    """An override of any dependency of a fast route sends it to FastAPI's handler, which
    applies the override (here: a read scope check that lets anyone in)."""
    app: Any = client.app
    [context] = [
        c
        for c in iter_route_contexts(app.routes)
        if c.path_format == "/builds/{build_id}" and "GET" in (c.methods or ())
    ]
    check = context.dependant.dependencies[0].call

    async def anyone() -> Principal:
        return Principal("api_key", "override", 1)

    assert client.get(f"/builds/{build_id}").status_code == 401
    app.dependency_overrides[check] = anyone
    try:
        assert client.get(f"/builds/{build_id}").status_code == 200
    finally:
        app.dependency_overrides.clear()
