"""Catalog resources (one shared mechanism) and project state codes."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ADMIN

RESOURCES = {
    "platforms": (
        "Platform",
        {"name": "aws-us-east-1", "cloud_provider": "aws", "region": "us-east-1"},
        {"region": "us-west-2"},
    ),
    "os_versions": (
        "OS version",
        {"name": "Red Hat Enterprise Linux", "version": "9.4"},
        {"version": "9.5"},
    ),
    "image_types": (
        "Image type",
        {"name": "kubernetes-node", "description": "Kubernetes worker node image"},
        {"description": "k8s"},
    ),
    "projects": (
        "Project",
        {"name": "rhel-8-base", "description": "RHEL 8 base image builds"},
        {"description": "changed"},
    ),
}


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_crud_soft_delete_and_listing(client: TestClient, resource: str) -> None:
    label, body, change = RESOURCES[resource]
    created = client.post(f"/{resource}/", headers=ADMIN, json=body)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert {k: entry[k] for k in body} == body
    assert entry["deactivated_at"] is None
    assert entry["created_at"].endswith("Z")
    entry_id = entry["id"]

    duplicate = client.post(f"/{resource}/", headers=ADMIN, json=body)
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]

    fetched = client.get(f"/{resource}/{entry_id}", headers=ADMIN)
    assert fetched.json() == entry
    updated = client.put(f"/{resource}/{entry_id}", headers=ADMIN, json=change)
    assert updated.status_code == 200
    assert {k: updated.json()[k] for k in change} == change

    assert client.delete(f"/{resource}/{entry_id}", headers=ADMIN).status_code == 204
    assert client.delete(f"/{resource}/{entry_id}", headers=ADMIN).status_code == 204
    active = [e["id"] for e in client.get(f"/{resource}/", headers=ADMIN).json()]
    assert entry_id not in active
    everything = client.get(f"/{resource}/", headers=ADMIN, params={"include_deactivated": True})
    gone = next(e for e in everything.json() if e["id"] == entry_id)
    assert gone["deactivated_at"] is not None

    missing = client.get(f"/{resource}/unknown-thing", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"{label} with id 'unknown-thing' not found"
    assert client.put(f"/{resource}/unknown-thing", headers=ADMIN, json=change).status_code == 404
    assert client.delete(f"/{resource}/unknown-thing", headers=ADMIN).status_code == 404


def test_platform_ids_are_readable(client: TestClient) -> None:
    made = client.post(
        "/platforms/",
        headers=ADMIN,
        json={"name": "aws-us-east-1", "cloud_provider": "aws", "region": "us-east-1"},
    )
    assert made.json()["id"] == "aws-us-east-1"
    spaced = client.post("/platforms/", headers=ADMIN, json={"name": "Azure West Europe"})
    assert spaced.json()["id"] == "azure-west-europe"
    explicit = client.post(
        "/os_versions/", headers=ADMIN, json={"id": "rhel-8.8", "name": "RHEL", "version": "8.8"}
    )
    assert explicit.json()["id"] == "rhel-8.8"
    generated = client.post("/image_types/", headers=ADMIN, json={"name": "hana"})
    assert len(generated.json()["id"]) == 36
    taken = client.post("/projects/", headers=ADMIN, json={"id": "rhel-8.8", "name": "p"})
    assert taken.status_code == 201  # ids are per resource
    bad = client.post("/projects/", headers=ADMIN, json={"id": "has space", "name": "q"})
    assert bad.status_code == 422


def test_development_reference_data_is_seeded(client: TestClient) -> None:
    for path, entry_id in (
        ("platforms", "aws-commercial"),
        ("os_versions", "rhel-9.3"),
        ("image_types", "base"),
    ):
        assert client.get(f"/{path}/{entry_id}", headers=ADMIN).status_code == 200


def test_pagination(client: TestClient) -> None:
    for i in range(5):
        client.post("/image_types/", headers=ADMIN, json={"name": f"type-{i}"})
    names = [
        e["name"]
        for e in client.get("/image_types/", headers=ADMIN, params={"skip": 2, "limit": 2}).json()
    ]
    assert names == ["type-1", "type-2"]  # "base" was seeded first
    for params in ({"skip": -1}, {"limit": 0}, {"limit": 1001}, {"skip": 2**40}, {"limit": "ten"}):
        response = client.get("/image_types/", headers=ADMIN, params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"][0] == "query"


def test_etag_and_if_match(client: TestClient) -> None:
    fetched = client.get("/platforms/aws-commercial", headers=ADMIN)
    tag = fetched.headers["etag"]
    first = client.put(
        "/platforms/aws-commercial",
        headers={**ADMIN, "If-Match": tag},
        json={"region": "eu-west-1"},
    )
    assert first.status_code == 200
    assert first.headers["etag"] != tag
    stale = client.put(
        "/platforms/aws-commercial",
        headers={**ADMIN, "If-Match": tag},
        json={"region": "eu-west-2"},
    )
    assert stale.status_code == 412
    assert "changed since you read it" in stale.json()["detail"]
    assert client.get("/platforms/aws-commercial", headers=ADMIN).json()["region"] == "eu-west-1"


def test_update_cannot_null_required_fields_or_collide(client: TestClient) -> None:
    assert (
        client.put("/platforms/aws-commercial", headers=ADMIN, json={"name": None}).status_code
        == 422
    )
    client.post("/platforms/", headers=ADMIN, json={"name": "gcp"})
    collide = client.put("/platforms/gcp", headers=ADMIN, json={"name": "aws-commercial"})
    assert collide.status_code == 409
    assert client.put("/platforms/gcp", headers=ADMIN, json={"colour": "red"}).status_code == 422


def test_state_codes(client: TestClient, project: str) -> None:
    base = f"/projects/{project}/state-codes"
    created = client.post(
        base,
        headers=ADMIN,
        json={"state_code": 5, "description": "Preparing build environment", "is_blocking": False},
    )
    assert created.status_code == 201
    code = created.json()
    assert code["project_id"] == project
    assert code["state_code"] == 5
    assert client.post(base, headers=ADMIN, json={"state_code": 5}).status_code == 409
    assert client.post(base, headers=ADMIN, json={"state_code": 101}).status_code == 422
    client.post(base, headers=ADMIN, json={"state_code": 0})
    assert [c["state_code"] for c in client.get(base, headers=ADMIN).json()] == [0, 5]
    assert client.get(f"{base}/{code['id']}", headers=ADMIN).json() == code
    assert client.get(f"{base}/5", headers=ADMIN).json()["id"] == code["id"]
    updated = client.put(f"{base}/{code['id']}", headers=ADMIN, json={"is_blocking": True})
    assert updated.json()["is_blocking"] is True
    assert client.put(f"{base}/5", headers=ADMIN, json={"state_code": 0}).status_code == 409
    assert client.delete(f"{base}/{code['id']}", headers=ADMIN).status_code == 204
    assert client.get(f"{base}/{code['id']}", headers=ADMIN).status_code == 404
    missing = client.get("/projects/nope/state-codes", headers=ADMIN)
    assert missing.json()["detail"] == "Project with id 'nope' not found"


def test_seed_curl_walkthrough_shapes(client: TestClient) -> None:
    """The API reference's catalog requests, verbatim, give its documented shapes."""
    bodies: dict[str, dict[str, Any]] = {
        "/platforms/": {"name": "aws-us-east-1", "cloud_provider": "aws", "region": "us-east-1"},
        "/os_versions/": {"name": "Red Hat Enterprise Linux", "version": "9.3-eus"},
        "/image_types/": {"name": "kubernetes-node", "description": "Kubernetes worker node image"},
        "/projects/": {"name": "rhel-8-base", "description": "RHEL 8 base image builds"},
    }
    for path, body in bodies.items():
        response = client.post(path, headers=ADMIN, json=body)
        assert response.status_code == 201
        assert set(response.json()) >= {"id", "name", "created_at", "deactivated_at", *body}
