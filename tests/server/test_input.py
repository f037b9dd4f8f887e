"""Bad input gets a 4xx that says what was wrong; never a 500, never stored."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import ADMIN

JSON = {**ADMIN, "Content-Type": "application/json"}
# The documented limits (README, docs/api-additions.md), as compact JSON in UTF-8.
MAX_METADATA_BYTES = 16 * 1024
MAX_LABELS_BYTES = 8 * 1024


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_malformed_json(client: TestClient) -> None:
    response = client.post("/platforms/", headers=JSON, content=b'{"name": ')
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"name": ""},
        {"name": "x" * 256},
        {"name": "ok", "unknown_field": 1},
        {"name": "nul\x00byte"},
        [],
        "just a string",
    ],
)
def test_bad_platform_bodies(client: TestClient, body: Any) -> None:
    response = client.post("/platforms/", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


def test_lone_surrogate_in_raw_json_is_refused(client: TestClient) -> None:
    response = client.post("/platforms/", headers=JSON, content=b'{"name": "\\ud800"}')
    assert response.status_code == 422


@pytest.mark.parametrize(
    "extra",
    [
        {"build_metadata": {"n": 2**70}},
        {"build_metadata": {"deep": _nested(20)}},
        {"build_metadata": {"bad\x00key": 1}},
        {"labels": {"k": 5}},
        {"labels": {f"k{i}": "v" for i in range(65)}},
        {"build_number": None},
    ],
)
def test_bad_build_bodies(client: TestClient, project: str, extra: dict[str, Any]) -> None:
    body = {
        "project_id": project,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": "b-1",
        **extra,
    }
    response = client.post("/builds", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert client.get("/builds", headers=ADMIN).json() == []


def test_out_of_range_integers(client: TestClient, new_build: Any) -> None:
    build_id = new_build()["id"]
    for body in (
        {"state_code": 2**64, "status": "in_progress"},
        {"state_code": -1, "status": "in_progress"},
        {"state_code": 10, "status": "completed", "artifact_size_bytes": 2**63},
        {"state_code": 10, "status": "completed", "artifact_size_bytes": -5},
    ):
        response = client.post(f"/builds/{build_id}/state", headers=ADMIN, json=body)
        assert response.status_code == 422, body


def test_absurd_nesting_is_a_4xx(client: TestClient) -> None:
    deep = b'{"name": "x", "cloud_provider": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/platforms/", headers=JSON, content=deep)
    assert 400 <= response.status_code < 500


def test_oversized_bodies_get_413(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = client.post("/platforms/", headers=JSON, content=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(1100):
            yield b"y" * 1024
        yield b'"}'

    streamed = client.post("/platforms/", headers=JSON, content=chunks())
    assert streamed.status_code == 413


def test_nul_in_path_and_query(client: TestClient) -> None:
    assert client.get("/platforms/a%00b", headers=ADMIN).status_code == 422
    for name in ("project_id", "platform_id", "build_number", "label"):
        response = client.get("/builds", headers=ADMIN, params={name: "a=\x00b"})
        assert response.status_code == 422, name


def test_unknown_routes_and_methods(client: TestClient) -> None:
    missing = client.get("/nope", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No route for GET /nope"
    assert client.patch("/platforms/", headers=ADMIN).status_code == 405
    # A final newline is not the end of the path (Starlette's patterns would say it is).
    for path in ("/image_types/%0A", "/builds%0A", "/platforms/%0A"):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 404, path
        assert response.json()["detail"].startswith("No route for GET")


def test_non_finite_numbers_in_metadata_are_refused(client: TestClient, project: str) -> None:
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        body = (
            b'{"project_id": "' + project.encode() + b'", "platform_id": "aws-commercial",'
            b' "os_version_id": "rhel-9.3", "image_type_id": "base", "build_number": "n",'
            b' "build_metadata": {"x": ' + literal + b"}}"
        )
        response = client.post("/builds", headers=JSON, content=body)
        assert response.status_code == 422, literal


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/builds", {"created_after": "9999-12-31T23:59:59-14:00"}),
        ("/builds", {"created_before": "0001-01-01T00:00:00+01:00"}),
        ("/audit", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/builds", {"created_after": "2026-01-01T00:00:00"}),  # no timezone
    ],
)
def test_out_of_range_or_naive_moments_are_422(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, headers=ADMIN, params=params)
    assert response.status_code == 422, response.text


def test_state_code_refs_are_ascii_digits_or_ids(client: TestClient, project: str) -> None:
    response = client.get(f"/projects/{project}/state-codes/%C2%B2", headers=ADMIN)
    assert response.status_code == 404


def test_nul_in_login_usernames_is_422(client: TestClient) -> None:
    assert client.post("/token", data={"username": "a\x00b", "password": "x"}).status_code == 422
    idm = client.post("/auth/idm", json={"username": "a\x00b", "password": "x"})
    assert idm.status_code == 422


def test_artifact_fields_need_a_path_and_codes_are_integers(
    client: TestClient, new_build: Any
) -> None:
    build_id = new_build()["id"]
    orphan = client.post(
        f"/builds/{build_id}/state",
        headers=ADMIN,
        json={"state_code": 10, "status": "completed", "artifact_checksum": "sha256:abc"},
    )
    assert orphan.status_code == 422
    assert "artifact_storage_path is required" in str(orphan.json()["detail"])
    boolean = client.post(
        f"/builds/{build_id}/state",
        headers=ADMIN,
        json={"state_code": True, "status": "in_progress"},
    )
    assert boolean.status_code == 422


def test_a_body_that_is_not_utf8_is_422(client: TestClient) -> None:
    response = client.post("/projects/", headers=JSON, content=b"\xff")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "body_invalid"


def _sized(limit: int, over: int) -> dict[str, str]:
    """A JSON object of exactly ``limit + over`` bytes as compact JSON."""
    return {"k": "x" * (limit + over - len('{"k":""}'))}


def _labels(limit: int, over: int) -> dict[str, str]:
    """64 labels (the most accepted) of exactly ``limit + over`` bytes as compact JSON."""
    labels = {f"k{i:02d}": "v" * 118 for i in range(64)}
    rest = limit + over - len(orjson.dumps(labels))
    labels["k00"] += "v" * rest
    return labels


def test_metadata_and_labels_are_bounded_in_bytes(client: TestClient, project: str) -> None:
    def create(number: str, **extra: Any) -> Any:
        body = {
            "project_id": project,
            "platform_id": "aws-commercial",
            "os_version_id": "rhel-9.3",
            "image_type_id": "base",
            "build_number": number,
            **extra,
        }
        return client.post("/builds", headers=ADMIN, json=body)

    at_limit = create("at", build_metadata=_sized(MAX_METADATA_BYTES, 0))
    assert at_limit.status_code == 201, at_limit.text
    assert create("labels", labels=_labels(MAX_LABELS_BYTES, 0)).status_code == 201
    over = create("over", build_metadata=_sized(MAX_METADATA_BYTES, 1))
    assert over.status_code == 422
    [error] = over.json()["detail"]
    assert error["loc"] == ["body", "build_metadata"]
    assert "is 16385 bytes as compact JSON; at most 16384 (16 KiB) are accepted" in error["msg"]
    # Characters beyond ASCII count as the bytes UTF-8 gives them.
    wide = create("wide", build_metadata={"k": "é" * (MAX_METADATA_BYTES // 2)})
    assert wide.status_code == 422
    too_many = create("many", labels=_labels(MAX_LABELS_BYTES, 1))
    assert too_many.status_code == 422
    [error] = too_many.json()["detail"]
    assert error["loc"] == ["body", "labels"]
    assert "is 8193 bytes as compact JSON; at most 8192 (8 KiB) are accepted" in error["msg"]
    numbers = [b["build_number"] for b in client.get("/builds", headers=ADMIN).json()]
    assert sorted(numbers) == ["at", "labels"]


def test_state_and_failure_objects_are_bounded_in_bytes(client: TestClient, new_build: Any) -> None:
    build_id = new_build()["id"]
    artifact = {"artifact_storage_path": "s3://b/x.qcow2"}
    for name, extra in (("metadata", {}), ("artifact_metadata", artifact)):
        for over, expected in ((1, 422), (0, 200)):
            body = {"state_code": 10, "status": "in_progress", **extra}
            body[name] = _sized(MAX_METADATA_BYTES, over)
            response = client.post(f"/builds/{build_id}/state", headers=ADMIN, json=body)
            assert response.status_code == expected, (name, response.text)
            if expected == 422:
                assert response.json()["detail"][0]["loc"] == ["body", name]
    for over, expected in ((1, 422), (0, 201)):
        body = {
            "state_code": 10,
            "error_message": "boom",
            "error_details": _sized(MAX_METADATA_BYTES, over),
        }
        response = client.post(f"/builds/{build_id}/failure", headers=ADMIN, json=body)
        assert response.status_code == expected, response.text
    history = client.get(f"/builds/{build_id}/state", headers=ADMIN).json()["history"]
    assert [h["status"] for h in history] == ["pending", "in_progress", "in_progress", "failed"]
