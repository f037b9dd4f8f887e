"""Commit hooks (buildstate.server.db.hooks), for every write operation of the API: a write
that succeeds runs its in-transaction hooks in its own transaction and its after-commit
hooks once it is durable, and has its audit row; a write that fails or rolls back runs no
after-commit hook and leaves no row. The operations are read off the application's
routes, so a new write operation without a case here fails the first test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from buildstate.server.db.hooks import Change, CommitHooks
from buildstate.server.state import state_of
from tests.conftest import ADMIN
from tests.services import build_body

MISSING = "00000000-0000-4000-8000-000000000000"
_names = itertools.count()
# Logins and unlocks write no row of their own (an unlock clears counters kept in memory):
# the audit middleware records them afterwards.
NOT_UNITS_OF_WORK = {
    ("POST", "/token"),
    ("POST", "/auth/idm"),
    ("DELETE", "/users/{user_id}/lockout"),
}


@dataclass
class World:
    """Makes what a case needs through the API, fresh for each case."""

    client: TestClient
    project: str

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, headers=ADMIN, json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def build(self, *, failed: bool = False) -> str:
        body = build_body(self.project, f"hooks-{next(_names)}")
        build_id = str(self.post("/builds", body)["id"])
        if failed:
            failure = {"state_code": 10, "error_message": "boom"}
            self.post(f"/builds/{build_id}/failure", failure)
        return build_id

    def user(self) -> str:
        body = {"username": f"hooks-{next(_names)}", "password": "password-123"}
        return str(self.post("/users", body)["id"])

    def token(self) -> tuple[str, str]:
        user = self.user()
        body = {"name": "t", "scopes": ["read"]}
        return user, str(self.post(f"/users/{user}/tokens", body)["id"])

    def entry(self, collection: str) -> str:
        return str(self.post(f"/{collection}/", catalog_body(collection))["id"])

    def state_code(self) -> str:
        return str(self.post(f"/projects/{self.project}/state-codes", {"state_code": 42})["id"])


def catalog_body(collection: str) -> dict[str, Any]:
    name = f"hooks-{next(_names)}"
    return {"name": name, "version": "1.0"} if collection == "os_versions" else {"name": name}


Request = tuple[str, dict[str, Any] | None]  # path, JSON body


@dataclass(frozen=True)
class Case:
    """A request that succeeds and one that fails, each made fresh from a World."""

    ok: Callable[[World], Request]
    refused: Callable[[World], Request]
    refused_status: int = 404


def _catalog_cases(collection: str) -> dict[tuple[str, str], Case]:
    path = f"/{collection}"
    return {
        ("POST", f"{path}/"): Case(
            lambda w: (f"{path}/", catalog_body(collection)),
            lambda w: (f"{path}/", {"name": ""}),
            422,
        ),
        ("PUT", f"{path}/{{entry_id}}"): Case(
            lambda w: (f"{path}/{w.entry(collection)}", {"name": f"renamed-{next(_names)}"}),
            lambda w: (f"{path}/{MISSING}", {"name": "renamed"}),
        ),
        ("DELETE", f"{path}/{{entry_id}}"): Case(
            lambda w: (f"{path}/{w.entry(collection)}", None),
            lambda w: (f"{path}/{MISSING}", None),
        ),
    }


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/builds"): Case(
        lambda w: ("/builds", build_body(w.project, f"hooks-{next(_names)}")),
        lambda w: ("/builds", build_body("no-such-project", f"hooks-{next(_names)}")),
    ),
    ("POST", "/builds/{build_id}/state"): Case(
        lambda w: (f"/builds/{w.build()}/state", {"state_code": 10, "status": "in_progress"}),
        lambda w: (f"/builds/{MISSING}/state", {"state_code": 10, "status": "in_progress"}),
    ),
    ("POST", "/builds/{build_id}/failure"): Case(
        lambda w: (f"/builds/{w.build()}/failure", {"state_code": 10, "error_message": "x"}),
        lambda w: (f"/builds/{MISSING}/failure", {"state_code": 10, "error_message": "x"}),
    ),
    ("POST", "/builds/{build_id}/resume"): Case(
        lambda w: (f"/builds/{w.build(failed=True)}/resume", {}),
        lambda w: (f"/builds/{w.build()}/resume", {}),  # nothing to resume yet
        409,
    ),
    ("POST", "/builds/{build_id}/cancel"): Case(
        lambda w: (f"/builds/{w.build()}/cancel", {"reason": "test"}),
        lambda w: (f"/builds/{MISSING}/cancel", {}),
    ),
    ("POST", "/users"): Case(
        lambda w: ("/users", {"username": f"u-{next(_names)}", "password": "password-123"}),
        lambda w: ("/users", {"username": "admin", "password": "password-123"}),
        409,
    ),
    ("PUT", "/users/{user_id}"): Case(
        lambda w: (f"/users/{w.user()}", {"email": "someone@example.com"}),
        lambda w: (f"/users/{MISSING}", {"email": "someone@example.com"}),
    ),
    ("DELETE", "/users/{user_id}"): Case(
        lambda w: (f"/users/{w.user()}", None),
        lambda w: (f"/users/{MISSING}", None),
    ),
    ("POST", "/users/{user_id}/tokens"): Case(
        lambda w: (f"/users/{w.user()}/tokens", {"name": "pipeline", "scopes": ["read"]}),
        lambda w: (f"/users/{MISSING}/tokens", {"name": "pipeline"}),
    ),
    ("DELETE", "/users/{user_id}/tokens/{token_id}"): Case(
        lambda w: ("/users/{}/tokens/{}".format(*w.token()), None),
        lambda w: (f"/users/{w.user()}/tokens/{MISSING}", None),
    ),
    ("POST", "/projects/{project_id}/state-codes"): Case(
        lambda w: (f"/projects/{w.project}/state-codes", {"state_code": 7}),
        lambda w: (f"/projects/{MISSING}/state-codes", {"state_code": 7}),
    ),
    ("PUT", "/projects/{project_id}/state-codes/{state_code_id}"): Case(
        lambda w: (f"/projects/{w.project}/state-codes/{w.state_code()}", {"name": "renamed"}),
        lambda w: (f"/projects/{w.project}/state-codes/{MISSING}", {"name": "renamed"}),
    ),
    ("DELETE", "/projects/{project_id}/state-codes/{state_code_id}"): Case(
        lambda w: (f"/projects/{w.project}/state-codes/{w.state_code()}", None),
        lambda w: (f"/projects/{w.project}/state-codes/{MISSING}", None),
    ),
    **_catalog_cases("platforms"),
    **_catalog_cases("os_versions"),
    **_catalog_cases("image_types"),
    **_catalog_cases("projects"),
}


@dataclass
class Recorder:
    """Hooks that note what they saw: (stage, method, path, inside a transaction)."""

    seen: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def in_transaction(self, session: Session, change: Change) -> None:
        scope = change.scope
        self.seen.append(("in", scope["method"], scope["path"], session.in_transaction()))

    def after_commit(self, change: Change) -> None:
        self.seen.append(("after", change.scope["method"], change.scope["path"], False))


@pytest.fixture
def recorder(client: TestClient) -> Iterator[Recorder]:
    hooks: CommitHooks = state_of(client.app).hooks  # type: ignore[arg-type]
    recorder = Recorder()
    hooks.in_transaction.append(recorder.in_transaction)
    hooks.after_commit.append(recorder.after_commit)
    yield recorder
    hooks.in_transaction.remove(recorder.in_transaction)
    hooks.after_commit.remove(recorder.after_commit)


@pytest.fixture
def world(client: TestClient, project: str) -> World:
    return World(client, project)


def test_every_write_operation_has_a_case(client: TestClient) -> None:
    writes = {
        (method, context.path_format)
        for context in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        for method in context.methods or ()
        if method in ("POST", "PUT", "PATCH", "DELETE")
    }
    assert writes - NOT_UNITS_OF_WORK == set(CASES)


def _send(client: TestClient, method: str, request: Request, request_id: str) -> Any:
    path, body = request
    headers = {**ADMIN, "X-Request-ID": request_id}
    return client.request(method, path, headers=headers, json=body)


def _audit(client: TestClient, request_id: str) -> list[dict[str, Any]]:
    response = client.get("/audit", headers=ADMIN, params={"request_id": request_id})
    assert response.status_code == 200, response.text
    return list(response.json())


@pytest.mark.parametrize(("method", "route"), sorted(CASES))
def test_a_write_runs_its_hooks_and_a_refused_one_none(
    client: TestClient, world: World, recorder: Recorder, method: str, route: str
) -> None:
    case = CASES[method, route]
    request = case.ok(world)
    recorder.seen.clear()
    answer = _send(client, method, request, "hooks-ok")
    assert answer.status_code in (200, 201, 204), answer.text
    path = request[0]
    assert recorder.seen == [("in", method, path, True), ("after", method, path, False)]
    [audited] = _audit(client, "hooks-ok")
    assert (audited["outcome"], audited["status_code"]) == ("success", answer.status_code)

    request = case.refused(world)
    recorder.seen.clear()
    answer = _send(client, method, request, "hooks-refused")
    assert answer.status_code == case.refused_status, answer.text
    assert recorder.seen == []
    [audited] = _audit(client, "hooks-refused")  # by the middleware, after the fact
    assert audited["status_code"] == case.refused_status


def test_a_failing_hook_rolls_the_write_back(client: TestClient, world: World) -> None:
    """An in-transaction hook is part of the write: when it raises, nothing is kept and no
    after-commit hook runs, on the group-commit path as on a lone write."""
    build = world.build()
    hooks: CommitHooks = state_of(client.app).hooks  # type: ignore[arg-type]
    published: list[str] = []

    def refuse(session: Session, change: Change) -> None:
        raise RuntimeError("the event log is full")

    hooks.in_transaction.append(refuse)
    hooks.after_commit.append(lambda change: published.append(change.scope["path"]))
    try:
        reported = client.post(
            f"/builds/{build}/state", headers=ADMIN, json={"state_code": 20, "status": "failed"}
        )
        created = client.post("/platforms/", headers=ADMIN, json={"name": "never-kept"})
    finally:
        del hooks.in_transaction[-1], hooks.after_commit[-1]
    assert (reported.status_code, created.status_code) == (500, 500)
    assert published == []
    history = client.get(f"/builds/{build}/state", headers=ADMIN).json()["history"]
    assert [h["state_code"] for h in history] == [0]
    assert client.get("/platforms/never-kept", headers=ADMIN).status_code == 404
    assert client.get(f"/builds/{build}", headers=ADMIN).json()["status"] == "pending"


def test_a_failing_after_commit_hook_does_not_undo_an_acknowledged_write(
    client: TestClient, world: World
) -> None:
    hooks: CommitHooks = state_of(client.app).hooks  # type: ignore[arg-type]

    def broken(change: Change) -> None:
        raise RuntimeError("the bus is down")

    hooks.after_commit.insert(0, broken)
    try:
        created = client.post("/platforms/", headers=ADMIN, json={"name": "kept-anyway"})
    finally:
        hooks.after_commit.remove(broken)
    assert created.status_code == 201, created.text
    assert client.get("/platforms/kept-anyway", headers=ADMIN).status_code == 200
    [audited] = _audit(client, created.headers["X-Request-ID"])
    assert audited["outcome"] == "success"  # the audit hook after it still ran
