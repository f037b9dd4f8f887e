"""The hot reads (see buildstate.server.hotpaths) answer exactly as the application would:
each request goes to an app with them and to one without, on the same database, and the
two answers must be the same bytes: status, headers and body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.app import create_app
from buildstate.server.hotpaths import HotReads
from buildstate.server.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME, Settings
from tests.conftest import ADMIN, token_headers

REQUEST_ID = {"X-Request-ID": "same-in-both"}  # otherwise the one header that differs


def hot_reads_of(app: FastAPI) -> HotReads:
    layer: Any = app.middleware_stack
    while not isinstance(layer, HotReads):
        layer = layer.app
    return layer


@pytest.fixture
def full(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """A second app over the same database, without the hot reads (``client`` starts first,
    so the data is seeded once)."""
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotReads]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def passed_on(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the hot reads passed on to the application."""
    hot = hot_reads_of(client.app)  # type: ignore[arg-type]
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
    client: TestClient, full: TestClient, path: str, headers: dict[str, str], method: str = "GET"
) -> int:
    hot = client.request(method, path, headers={**headers, **REQUEST_ID}, follow_redirects=False)
    reference = full.request(
        method, path, headers={**headers, **REQUEST_ID}, follow_redirects=False
    )
    assert hot.status_code == reference.status_code, (hot.text, reference.text)
    assert hot.content == reference.content
    assert hot.headers.multi_items() == reference.headers.multi_items()
    return hot.status_code


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
    ("path", "headers", "status"),
    [
        ("/builds/{id}", {}, 401),
        ("/builds/{id}", {"X-API-Key": "not-a-key"}, 401),
        ("/builds/{id}", {"X-API-Key": "bst_nope_nope"}, 401),
        ("/builds/{id}", {"Authorization": "Bearer not.a.jwt"}, 401),
        ("/dashboard/summary", {}, 401),
        ("/builds/00000000-0000-4000-8000-000000000000", ADMIN, 404),
        ("/builds/caf%C3%A9", ADMIN, 404),
        ("/builds/" + "x" * 201, ADMIN, 422),
        ("/builds/{id}/", ADMIN, 307),
    ],
)
def test_everything_else_is_passed_on_and_answered_the_same(
    client: TestClient,
    full: TestClient,
    passed_on: list[str],
    build_id: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    path = path.replace("{id}", build_id)
    passed_on.clear()
    assert same_answer(client, full, path, headers) == status
    assert len(passed_on) == 1


def test_head_and_other_methods_are_passed_on(
    client: TestClient, full: TestClient, passed_on: list[str], build_id: str
) -> None:
    passed_on.clear()
    assert same_answer(client, full, f"/builds/{build_id}", ADMIN, method="HEAD") == 405
    assert same_answer(client, full, "/dashboard/summary", ADMIN, method="DELETE") == 405
    assert len(passed_on) == 2
