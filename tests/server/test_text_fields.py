"""Every text field of every operation refuses NUL and lone surrogates with a 422, before
the database sees them (PostgreSQL cannot store either), and its schema says so.

The fields are not listed here: they are read from the app's own OpenAPI schema (path,
query and header parameters, JSON and form bodies, string maps and free-form objects), so
an operation or field added later is covered without anyone remembering to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.settings import Settings
from tests.conftest import ADMIN, clean_settings

NUL = "a\x00b"
SURROGATE = "a\ud800b"


@dataclass(frozen=True)
class Field:
    method: str
    path: str
    where: str  # path, query, header, json, form
    name: str
    shape: str  # text, map (string map: key and value), object (free-form JSON)
    schema: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.where}:{self.name}"


def _variants(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        return _variants(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return [v for s in schema["anyOf"] for v in _variants(s, components)]
    return [schema]


def _shape(schema: dict[str, Any], components: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What text a value of this schema can carry, or ``("", {})`` for none."""
    for variant in _variants(schema, components):
        kind = variant.get("type")
        if kind == "string":
            return "text", variant
        if kind == "array":
            return _shape(variant.get("items", {}), components)
        if kind == "object" and "properties" not in variant:
            extra = variant.get("additionalProperties", True)
            if isinstance(extra, dict) and extra.get("type") == "string":
                return "map", variant
            return "object", variant
    return "", {}


def text_fields(openapi: dict[str, Any]) -> list[Field]:
    components = openapi.get("components", {}).get("schemas", {})
    found = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                shape, schema = _shape(parameter["schema"], components)
                if shape:
                    where = parameter["in"]
                    found.append(Field(method, path, where, parameter["name"], shape, schema))
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                where = "form" if media == "application/x-www-form-urlencoded" else "json"
                for body in _variants(content["schema"], components):
                    for name, prop in body.get("properties", {}).items():
                        shape, schema = _shape(prop, components)
                        if shape:
                            found.append(Field(method, path, where, name, shape, schema))
    return found


def _openapi() -> dict[str, Any]:
    return create_app(Settings(DATABASE_URL="sqlite:///openapi-only.db")).openapi()


FIELDS = text_fields(_openapi())


def test_the_walk_finds_the_fields_we_know() -> None:
    """The enumeration itself works: it sees every kind of place text arrives by."""
    ids = {f.id for f in FIELDS}
    assert {
        "post /users json:email",
        "post /users json:password",
        "post /token form:username",
        "post /token form:password",
        "get /builds query:label",
        "get /builds/{build_id} path:build_id",
        "post /builds header:Idempotency-Key",
        "post /builds json:labels",
        "post /builds json:build_metadata",
        "put /platforms/{entry_id} header:if-match",
    } <= ids
    assert len(FIELDS) > 100


@pytest.mark.parametrize("field", [f for f in FIELDS if f.shape == "text"], ids=lambda f: f.id)
def test_free_text_schemas_exclude_nul(field: Field) -> None:
    """So that clients and schemathesis know the rule: a pattern that refuses NUL (enums
    and formats such as date-time exclude it already). Lone surrogates cannot be put in a
    pattern portably (validation.STORABLE_PATTERN); the requests below check them."""
    if "enum" in field.schema or "format" in field.schema:
        return
    pattern = field.schema.get("pattern")
    assert pattern is not None, f"{field.id} has no pattern"
    assert re.search(pattern, NUL) is None


def _request(field: Field, bad: str) -> dict[str, Any]:
    """One request that carries ``bad`` in ``field`` (other parameters harmless)."""
    path = field.path
    if field.where == "path":
        path = path.replace(f"{{{field.name}}}", quote(bad))
    path = re.sub(r"\{(\w+)\}", "x", path)
    request: dict[str, Any] = {"method": field.method.upper(), "url": path, "headers": {**ADMIN}}
    value: Any = bad
    if field.shape == "map":
        value = {bad: "v"} if bad == NUL else {"k": bad}
    elif field.shape == "object":
        value = {"k": [bad]}
    if field.where == "query":
        request["params"] = {field.name: value}
    elif field.where == "header":
        request["headers"][field.name] = value
    elif field.where == "form":
        request["data"] = {field.name: value}
    elif field.where == "json":
        # json.dumps writes a lone surrogate as the escape ``\ud800``, as a client would.
        request["content"] = json.dumps({field.name: value})
        request["headers"]["Content-Type"] = "application/json"
    return request


def _transportable(field: Field, bad: str) -> bool:
    """A lone surrogate can travel only inside JSON: URLs, forms and headers are bytes
    (percent-encoded UTF-8 or Latin-1), which decode to U+FFFD or other valid text."""
    return bad == NUL or field.where == "json"


@pytest.fixture(scope="module")
def app(backend: str) -> FastAPI:
    return create_app(clean_settings(backend))


def _refused_writes(client: TestClient) -> int:
    response = client.get("/audit", headers=ADMIN, params={"outcome": "invalid", "limit": 1})
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_every_text_field_refuses_nul_and_lone_surrogates(app: FastAPI, bad: str) -> None:
    wrong = []
    with TestClient(app) as client:
        before = _refused_writes(client)
        for field in FIELDS:
            if not _transportable(field, bad):
                continue
            response = client.request(**_request(field, bad))
            detail = response.json().get("detail") if response.status_code == 422 else None
            named = isinstance(detail, list) and any(field.name in e["loc"] for e in detail)
            if not named:
                wrong.append(f"{field.id}: {response.status_code} {response.text[:200]}")
        # Each refused write is in the audit log (its path, NUL and all, made storable).
        recorded = _refused_writes(client) - before
    assert wrong == []
    assert recorded == sum(f.method != "get" and _transportable(f, bad) for f in FIELDS)


def test_a_nul_in_an_unknown_path_is_a_404_and_recorded(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.post("/no%00where", headers=ADMIN, json={})
        assert response.status_code == 404
        listed = client.get("/audit", headers=ADMIN, params={"action": "POST /no\\x00where"})
    assert [r["target"] for r in listed.json()] == ["/no\\x00where"]


def test_a_nul_in_an_api_token_is_a_401(app: FastAPI) -> None:
    """The id part of a `bst_` token is looked up in the database: it must be one."""
    with TestClient(app) as client:
        for headers in (
            {"X-API-Key": "bst_0123456\x0089abcdef_secret"},
            {"Authorization": "Bearer bst_0123456\x0089abcdef_secret"},
        ):
            response = client.get("/builds", headers=headers)
            assert response.status_code == 401, response.text
