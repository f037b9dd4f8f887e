"""A JWT ends when its user's credentials change: a password change, a deactivation (even
if the user is reactivated later), a loss of scopes. Each bumps the user's credential
version, which every JWT carries (claim ``cv``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from starlette.testclient import TestClient

from buildstate.server.state import state_of
from tests.conftest import ADMIN, token_headers

STALE_JWT = (
    "Token no longer valid: the user's password, scopes or status changed after it was "
    "issued; log in again"
)


def _user_with_jwt(client: TestClient, scopes: list[str]) -> tuple[str, dict[str, str]]:
    made = client.post(
        "/users",
        headers=ADMIN,
        json={"username": "versioned", "password": "first-password", "scopes": scopes},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], token_headers(client, "versioned", "first-password")


def _stale(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == STALE_JWT


def test_a_password_change_ends_the_jwts_issued_before_it(client: TestClient) -> None:
    user_id, old = _user_with_jwt(client, ["read"])
    unrelated = client.put(f"/users/{user_id}", headers=ADMIN, json={"email": "v@example.com"})
    assert unrelated.status_code == 200
    assert client.get("/users/me", headers=old).status_code == 200  # an email is no credential
    changed = client.put(f"/users/{user_id}", headers=ADMIN, json={"password": "second-password"})
    assert changed.status_code == 200
    _stale(client, old)
    fresh = token_headers(client, "versioned", "second-password")
    assert client.get("/users/me", headers=fresh).status_code == 200


def test_a_jwt_from_before_a_deactivation_stays_dead_after_reactivation(
    client: TestClient,
) -> None:
    user_id, old = _user_with_jwt(client, ["read"])
    assert client.delete(f"/users/{user_id}", headers=ADMIN).status_code == 204
    assert (
        client.put(f"/users/{user_id}", headers=ADMIN, json={"is_active": True}).status_code == 200
    )
    _stale(client, old)
    # The same through PUT: deactivate, reactivate.
    middle = token_headers(client, "versioned", "first-password")
    for active in (False, True):
        response = client.put(f"/users/{user_id}", headers=ADMIN, json={"is_active": active})
        assert response.status_code == 200
    _stale(client, middle)
    again = token_headers(client, "versioned", "first-password")
    assert client.get("/users/me", headers=again).status_code == 200


def test_a_scope_reduction_ends_older_jwts_and_a_grant_does_not(client: TestClient) -> None:
    user_id, old = _user_with_jwt(client, ["read", "write"])
    granted = client.put(
        f"/users/{user_id}", headers=ADMIN, json={"scopes": ["read", "write", "admin"]}
    )
    assert granted.status_code == 200
    assert client.get("/users/me", headers=old).status_code == 200
    reduced = client.put(f"/users/{user_id}", headers=ADMIN, json={"scopes": ["read"]})
    assert reduced.status_code == 200
    _stale(client, old)


def test_a_jwt_without_a_credential_version_is_refused(client: TestClient) -> None:
    """A token signed with the right key but without the claim (e.g. issued before the
    claim existed) cannot be checked against the user, so it is refused."""
    user_id = client.get("/users", headers=ADMIN).json()[0]["id"]
    key = state_of(client.app).keys.jwt_key  # type: ignore[arg-type]
    for version in (None, "1", True, 1.0):
        now = datetime.now(UTC)
        claims = {
            "iss": "buildstate",
            "aud": "buildstate-api",
            "sub": user_id,
            "scope": "read",
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(minutes=5),
            "jti": "j",
            **({} if version is None else {"cv": version}),
        }
        token = jwt.encode(claims, key, algorithm="HS256", headers={"typ": "at+jwt"})
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, version
