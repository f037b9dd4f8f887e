"""The published schema and the server agree: what the schema allows is accepted, what it
refuses is refused with a message that says so (contract drift found by schemathesis)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from buildstate.server.catalog.resources import ALL as CATALOG
from buildstate.server.db.base import Base
from buildstate.server.projects.models import StateCodeDefinition
from buildstate.server.projects.schemas import StateCodeUpdate
from tests.conftest import ADMIN


def _spec(client: TestClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


def test_every_path_names_all_its_methods(client: TestClient) -> None:
    """405 and OPTIONS list every method the path answers, across all its routes."""
    paths = _spec(client)["paths"]
    for documented in paths:
        url = re.sub(r"\{[^}]+\}", "x", documented)
        methods = {
            method.upper()
            for path, item in paths.items()
            if _template(path).match(url)
            for method in item
        }
        allow = ", ".join(sorted({*methods, "OPTIONS"}))
        options = client.options(url)
        assert (options.status_code, options.headers.get("allow")) == (204, allow), url
        assert options.content == b""
        patch = client.patch(url, headers=ADMIN)
        assert (patch.status_code, patch.headers.get("allow")) == (405, allow), url
        assert patch.json()["detail"] == f"Method PATCH is not allowed on {url}; use {allow}"
    assert client.options("/nope").status_code == 404


def _nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_nullable(s) for s in schema.get("anyOf", []))


UPDATES = [(spec.update, spec.model) for spec in CATALOG] + [(StateCodeUpdate, StateCodeDefinition)]


@pytest.mark.parametrize(("update", "model"), UPDATES, ids=lambda v: v.__name__)
def test_null_is_offered_only_where_a_column_can_be_cleared(
    update: type[BaseModel], model: type[Base]
) -> None:
    properties = update.model_json_schema()["properties"]
    columns = model.__table__.c
    assert {f: _nullable(p) for f, p in properties.items()} == {
        f: bool(columns[f].nullable) for f in properties
    }


def test_null_is_refused_before_if_match_is_checked(client: TestClient, project: str) -> None:
    stale = {**ADMIN, "If-Match": '"aws-commercial.0"'}
    for path, body in (
        ("/platforms/aws-commercial", {"name": None}),
        ("/os_versions/rhel-9.3", {"version": None}),
    ):
        response = client.put(path, headers=stale, json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", next(iter(body))]
        assert "omit it to keep the current value" in error["msg"]
    cleared = client.put("/platforms/aws-commercial", headers=stale, json={"region": None})
    assert cleared.status_code == 412
    code = client.post(f"/projects/{project}/state-codes", headers=ADMIN, json={"state_code": 5})
    base = f"/projects/{project}/state-codes/{code.json()['id']}"
    for body in ({"is_blocking": None}, {"state_code": None}):
        assert client.put(base, headers=ADMIN, json=body).status_code == 422, body
    renamed = client.put(base, headers=ADMIN, json={"name": None, "is_blocking": True})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["is_blocking"]) == (None, True)


def test_integral_floats_are_integers(client: TestClient, project: str, new_build: Any) -> None:
    """JSON Schema's integer includes 77.0; 77.5, true and "77" are not integers."""
    published = _spec(client)["components"]["schemas"]["StateReport"]["properties"]
    assert (published["state_code"]["minimum"], published["state_code"]["maximum"]) == (0, 100)
    base = f"/projects/{project}/state-codes"
    created = client.post(base, headers=ADMIN, json={"state_code": 77.0})
    assert created.status_code == 201, created.text
    assert created.json()["state_code"] == 77
    build_id = new_build()["id"]
    report = client.post(
        f"/builds/{build_id}/state",
        headers=ADMIN,
        json={"state_code": 77.0, "status": "in_progress"},
    )
    assert report.status_code == 200, report.text
    assert client.get(f"/builds/{build_id}", headers=ADMIN).json()["current_state"] == 77
    for code in (77.5, True, "77", 1e300):
        response = client.post(base, headers=ADMIN, json={"state_code": code})
        assert response.status_code == 422, code


def test_empty_login_fields_are_called_empty(client: TestClient) -> None:
    body = _spec(client)["components"]["schemas"]["Body_token_token_post"]
    for name in ("username", "password"):
        assert body["properties"][name]["minLength"] == 1
        form = {"username": "admin", "password": "admin123", name: ""}
        response = client.post("/token", data=form)
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {
                "loc": ["body", name],
                "msg": "must not be empty",
                "type": "string_too_short",
                "ctx": {"min_length": "1"},
            }
        ]
    missing = client.post("/token", data={"password": "admin123"})
    assert missing.json()["detail"][0]["msg"] == "Field required"


def test_label_filters_follow_the_published_pattern(client: TestClient) -> None:
    [label] = [
        p for p in _spec(client)["paths"]["/builds"]["get"]["parameters"] if p["name"] == "label"
    ]
    items = label["schema"]["anyOf"][0]["items"]
    pattern = re.compile(items["pattern"])
    for value in ("", "=", "=v", "k", "key:value", "k=", "k=v", "k=v=w", "line\nbreak=x"):
        valid = items["minLength"] <= len(value) <= items["maxLength"] and bool(
            pattern.search(value)
        )
        response = client.get("/builds", headers=ADMIN, params={"label": value})
        assert response.status_code == (200 if valid else 422), value
        if not valid:
            [error] = response.json()["detail"]
            assert error["loc"] == ["query", "label", 0]
            assert "must look like key=value" in error["msg"]
    assert client.get("/builds", headers=ADMIN, params={"label": "k" * 320}).status_code == 422


@pytest.mark.parametrize(
    ("path", "name"), [("/audit", "until"), ("/audit", "since"), ("/builds", "created_after")]
)
def test_moments_are_iso_8601_date_times_only(client: TestClient, path: str, name: str) -> None:
    for number in ("0.5", "1700000000", "-1", "2024-02-01"):
        response = client.get(path, headers=ADMIN, params={name: number})
        assert response.status_code == 422, number
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", name]
        assert "ISO 8601 date-time with a timezone" in error["msg"]
    for moment in ("2024-02-01T12:00:00Z", "2024-02-01T12:00:00.5+02:00"):
        assert client.get(path, headers=ADMIN, params={name: moment}).status_code == 200
