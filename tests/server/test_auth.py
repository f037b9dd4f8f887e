"""Authentication and authorization: the matrix, JWT attacks, API tokens, users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from buildstate.server.auth.repository import AuthRepository
from buildstate.server.db.database import driver_url
from buildstate.server.settings import Settings
from buildstate.server.state import state_of
from tests.conftest import ADMIN, token_headers

# The minimum scope of every operation, as the seed API reference states it.
# None = no authentication; "any" = any valid credential.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/health"): None,
    ("GET", "/ready"): None,
    ("GET", "/status"): None,
    ("POST", "/token"): None,
    ("POST", "/auth/idm"): None,
    ("GET", "/users/me"): "read",
    ("POST", "/users"): "admin",
    ("GET", "/users"): "admin",
    ("GET", "/users/{user_id}"): "admin",
    ("PUT", "/users/{user_id}"): "admin",
    ("DELETE", "/users/{user_id}"): "admin",
    ("POST", "/users/{user_id}/tokens"): "admin",
    ("GET", "/users/{user_id}/tokens"): "admin",
    ("DELETE", "/users/{user_id}/tokens/{token_id}"): "admin",
    ("DELETE", "/users/{user_id}/lockout"): "admin",
    ("POST", "/projects/{project_id}/state-codes"): "write",
    ("GET", "/projects/{project_id}/state-codes"): "read",
    ("GET", "/projects/{project_id}/state-codes/{state_code_id}"): "read",
    ("PUT", "/projects/{project_id}/state-codes/{state_code_id}"): "write",
    ("DELETE", "/projects/{project_id}/state-codes/{state_code_id}"): "admin",
    ("POST", "/builds"): "write",
    ("GET", "/builds"): "read",
    ("GET", "/builds/{build_id}"): "read",
    ("POST", "/builds/{build_id}/state"): "write",
    ("GET", "/builds/{build_id}/state"): "read",
    ("POST", "/builds/{build_id}/failure"): "write",
    ("GET", "/builds/{build_id}/artifacts"): "read",
    ("GET", "/builds/{build_id}/resume"): "read",
    ("POST", "/builds/{build_id}/resume"): "write",
    ("POST", "/builds/{build_id}/cancel"): "write",
    ("GET", "/dashboard/summary"): "read",
    ("GET", "/dashboard/recent"): "read",
    ("GET", "/dashboard/platform/{platform_id}"): "read",
    ("GET", "/audit"): "admin",
}
for _resource in ("platforms", "os_versions", "image_types", "projects"):
    EXPECTED |= {
        ("POST", f"/{_resource}/"): "write",
        ("GET", f"/{_resource}/"): "read",
        ("GET", f"/{_resource}/{{entry_id}}"): "read",
        ("PUT", f"/{_resource}/{{entry_id}}"): "write",
        ("DELETE", f"/{_resource}/{{entry_id}}"): "admin",
    }
LEVEL = {"read": 1, "write": 2, "admin": 3}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def test_every_operation_has_an_expected_scope(client: TestClient) -> None:
    assert set(_operations(client)) == set(EXPECTED)


@pytest.mark.parametrize("credential", ["none", "read", "write", "admin"])
def test_authorization_matrix(client: TestClient, as_scope: Any, credential: str) -> None:
    headers = {} if credential == "none" else as_scope(credential)
    mismatches = []
    for (method, path), needed in EXPECTED.items():
        if needed is None:
            continue
        url = path.format(
            user_id="u",
            token_id="t",
            project_id="p",
            state_code_id="s",
            build_id="b",
            platform_id="x",
            entry_id="e",
        )
        response = client.request(method, url, headers=headers, json={})
        if credential == "none":
            expected_ok = False
            want = {401}
        elif LEVEL[credential] >= LEVEL[needed]:
            expected_ok, want = True, set()
        else:
            expected_ok, want = False, {403}
        got = response.status_code
        if (expected_ok and got in (401, 403)) or (not expected_ok and got not in want):
            mismatches.append((method, path, got))
    assert mismatches == []


def test_missing_and_insufficient_messages_match_the_reference(
    client: TestClient, as_scope: Any
) -> None:
    missing = client.get("/platforms/")
    assert missing.json()["detail"] == "Authentication required. Use Bearer token or X-API-Key."
    assert missing.headers["www-authenticate"] == "Bearer"
    denied = client.delete("/platforms/aws-commercial", headers=as_scope("write"))
    assert denied.json()["detail"] == "Admin permission required"


@pytest.mark.parametrize(
    "authorization", ["Basic YWRtaW46YWRtaW4xMjM=", "Bearer", "Bearer   ", "dev-key-12345"]
)
def test_an_authorization_header_that_is_not_a_bearer_credential_is_missing_credentials(
    client: TestClient, authorization: str
) -> None:
    response = client.get("/platforms/", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication required. Use Bearer token or X-API-Key."


def test_the_scheme_of_a_bearer_credential_is_case_insensitive(client: TestClient) -> None:
    response = client.get("/platforms/", headers={"Authorization": "bearer not.a.jwt"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or expired token"  # read as a JWT


def test_login_forms_and_token_use(client: TestClient) -> None:
    form = client.post("/token", data={"username": "admin", "password": "admin123"})
    assert form.status_code == 200
    body = form.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    idm = client.post("/auth/idm", json={"username": "admin", "password": "admin123"})
    assert idm.status_code == 200
    for token in (body["access_token"], idm.json()["access_token"]):
        me = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "admin"
        assert me.json()["scopes"] == ["read", "write", "admin"]
    wrong = client.post("/token", data={"username": "admin", "password": "nope"})
    unknown = client.post("/token", data={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Incorrect username or password"


def test_a_read_only_token_of_an_admin_cannot_delete(client: TestClient) -> None:
    read_only = token_headers(client, "admin", "admin123", scope="read")
    assert client.get("/platforms/", headers=read_only).status_code == 200
    denied = client.delete("/platforms/aws-commercial", headers=read_only)
    assert denied.status_code == 403
    assert (
        client.post(
            "/token", data={"username": "admin", "password": "admin123", "scope": "root"}
        ).status_code
        == 422
    )


def test_users_me_with_a_static_api_key(client: TestClient) -> None:
    me = client.get("/users/me", headers=ADMIN)
    assert me.status_code == 200
    assert me.json()["username"].startswith("api-key:")
    assert me.json()["scopes"] == ["read", "write", "admin"]


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "iss": "buildstate",
        "aud": "buildstate-api",
        "sub": "x",
        "scope": "read write admin",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": "j",
        "cv": 1,  # a new user's credential version
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_jwt_attacks_get_401(client: TestClient) -> None:
    user_id = client.get("/users", headers=ADMIN).json()[0]["id"]
    key = state_of(client.app).keys.jwt_key  # type: ignore[arg-type]
    good = jwt.encode(_claims(sub=user_id), key, algorithm="HS256", headers={"typ": "at+jwt"})
    assert client.get("/users/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    past = datetime.now(UTC) - timedelta(hours=2)
    attacks = {
        "expired": jwt.encode(
            _claims(sub=user_id, iat=past, nbf=past, exp=past + timedelta(minutes=1)),
            key,
            algorithm="HS256",
            headers={"typ": "at+jwt"},
        ),
        "wrong key": jwt.encode(
            _claims(sub=user_id), "x" * 40, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "alg none": jwt.encode(
            _claims(sub=user_id),
            None,
            algorithm="none",  # type: ignore[arg-type]
            headers={"typ": "at+jwt"},
        ),
        "no exp": jwt.encode(
            _claims(sub=user_id, exp=None), key, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "future nbf": jwt.encode(
            _claims(sub=user_id, nbf=datetime.now(UTC) + timedelta(hours=1)),
            key,
            algorithm="HS256",
            headers={"typ": "at+jwt"},
        ),
        "wrong typ": jwt.encode(
            _claims(sub=user_id), key, algorithm="HS256", headers={"typ": "JWT"}
        ),
        "wrong iss": jwt.encode(
            _claims(sub=user_id, iss="evil"), key, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "wrong aud": jwt.encode(
            _claims(sub=user_id, aud="other"), key, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "HS512": jwt.encode(
            _claims(sub=user_id), key, algorithm="HS512", headers={"typ": "at+jwt"}
        ),
        "unknown user": jwt.encode(
            _claims(sub="ghost"), key, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "garbage": "not.a.jwt",
    }
    for name, token in attacks.items():
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["detail"] == "Invalid or expired token", name


def _set_expiry(settings: Settings, token_id: str, when: datetime) -> None:
    engine = create_engine(driver_url(settings.database_url))
    with engine.begin() as conn:
        value = when if conn.dialect.name == "postgresql" else when.replace(tzinfo=None)
        conn.execute(
            text("UPDATE api_tokens SET expires_at = :e WHERE id = :i"),
            {"e": value, "i": token_id},
        )
    engine.dispose()


def test_api_tokens_are_shown_once_hashed_expire_and_revoke(
    client: TestClient, settings: Settings
) -> None:
    user = client.post(
        "/users",
        headers=ADMIN,
        json={"username": "pipeline", "password": "password-123", "scopes": ["read", "write"]},
    ).json()
    created = client.post(
        f"/users/{user['id']}/tokens",
        headers=ADMIN,
        json={"name": "Pipeline Token", "scopes": ["read", "write"], "expires_in_days": 365},
    )
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("bst_")
    assert token["expires_at"] is not None
    listed = client.get(f"/users/{user['id']}/tokens", headers=ADMIN).json()
    assert "token" not in listed[0]
    assert listed[0]["prefix"].startswith("bst_")
    headers = {"X-API-Key": token["token"]}
    assert client.get("/builds", headers=headers).status_code == 200
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/builds", headers=bearer).status_code == 200
    assert client.delete("/platforms/aws-commercial", headers=headers).status_code == 403
    tampered = {"X-API-Key": token["token"][:-2] + "xx"}
    assert client.get("/builds", headers=tampered).status_code == 401

    _set_expiry(settings, token["id"], datetime.now(UTC) - timedelta(seconds=1))
    expired = client.get("/builds", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["detail"] == "Invalid, expired or revoked API token"
    _set_expiry(settings, token["id"], datetime.now(UTC) + timedelta(days=1))
    assert client.get("/builds", headers=headers).status_code == 200
    revoked = client.delete(f"/users/{user['id']}/tokens/{token['id']}", headers=ADMIN)
    assert revoked.status_code == 204
    assert client.get("/builds", headers=headers).status_code == 401

    too_much = client.post(
        f"/users/{user['id']}/tokens", headers=ADMIN, json={"name": "x", "scopes": ["admin"]}
    )
    assert too_much.status_code == 422


def test_tokens_survive_an_app_restart(settings: Settings) -> None:
    from buildstate.server.app import create_app

    with TestClient(create_app(settings)) as first:
        headers = token_headers(first, "admin", "admin123")
    with TestClient(create_app(settings)) as second:
        assert second.get("/users/me", headers=headers).status_code == 200


def test_user_lifecycle(client: TestClient) -> None:
    created = client.post(
        "/users",
        headers=ADMIN,
        json={
            "username": "newuser",
            "email": "user@example.com",
            "password": "secure-password",
            "scopes": ["write", "read"],
        },
    )
    assert created.status_code == 201
    user = created.json()
    assert user["scopes"] == ["read", "write"]
    assert user["is_active"] is True
    assert "password" not in user
    assert "password_hash" not in user
    assert (
        client.post(
            "/users", headers=ADMIN, json={"username": "newuser", "password": "another-pass"}
        ).status_code
        == 409
    )
    assert client.get(f"/users/{user['id']}", headers=ADMIN).json()["email"] == "user@example.com"
    assert len(client.get("/users", headers=ADMIN).json()) == 2
    login = token_headers(client, "newuser", "secure-password")
    assert client.get("/users", headers=login).status_code == 403
    updated = client.put(
        f"/users/{user['id']}",
        headers=ADMIN,
        json={"password": "changed-password", "scopes": ["read"]},
    )
    assert updated.json()["scopes"] == ["read"]
    assert client.post("/builds", headers=login, json={}).status_code == 401  # ended at once
    token_headers(client, "newuser", "changed-password")
    assert client.delete(f"/users/{user['id']}", headers=ADMIN).status_code == 204
    assert client.get("/users/me", headers=login).status_code == 401
    assert (
        client.post(
            "/token", data={"username": "newuser", "password": "changed-password"}
        ).status_code
        == 401
    )
    assert client.get("/users/missing", headers=ADMIN).json()["detail"] == (
        "User with id 'missing' not found"
    )


def test_the_last_admin_cannot_be_removed(client: TestClient) -> None:
    admin_id = next(
        u["id"] for u in client.get("/users", headers=ADMIN).json() if u["username"] == "admin"
    )
    refused = client.delete(f"/users/{admin_id}", headers=ADMIN)
    assert refused.status_code == 409
    assert "last active admin" in refused.json()["detail"]
    demote = client.put(f"/users/{admin_id}", headers=ADMIN, json={"scopes": ["read"]})
    assert demote.status_code == 409


def test_another_users_token_cannot_touch_a_user(client: TestClient, as_scope: Any) -> None:
    """Users are managed by admins only: a write token of one user can neither read nor
    change another user, nor grant itself more scopes."""
    target = client.post(
        "/users",
        headers=ADMIN,
        json={"username": "target", "password": "target-pass", "scopes": ["read"]},
    ).json()
    other = as_scope("write")
    me = client.get("/users/me", headers=other).json()
    for method, path, body in [
        ("GET", f"/users/{target['id']}", None),
        ("PUT", f"/users/{target['id']}", {"scopes": ["read", "write", "admin"]}),
        ("DELETE", f"/users/{target['id']}", None),
        ("GET", f"/users/{target['id']}/tokens", None),
        ("POST", f"/users/{target['id']}/tokens", {"name": "stolen"}),
        ("PUT", f"/users/{me['id']}", {"scopes": ["read", "write", "admin"]}),
        ("POST", f"/users/{me['id']}/tokens", {"name": "mine", "scopes": ["admin"]}),
    ]:
        response = client.request(method, path, headers=other, json=body)
        assert response.status_code == 403, (method, path)
    assert client.get("/users/me", headers=other).json()["scopes"] == ["read", "write"]


def test_a_request_is_authenticated_once_however_many_dependencies_ask(
    client: TestClient, as_scope: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {**as_scope("write"), "Idempotency-Key": "once-1"}  # an API token: a lookup
    lookups: list[str] = []
    real = AuthRepository.get_token

    def counted(self: AuthRepository, token_id: str) -> Any:
        lookups.append(token_id)
        return real(self, token_id)

    monkeypatch.setattr(AuthRepository, "get_token", counted)
    # The scope check and the Idempotency-Key dependency both need the caller.
    response = client.post(
        "/builds",
        headers=headers,
        json={
            "project_id": "nope",
            "platform_id": "nope",
            "os_version_id": "nope",
            "image_type_id": "nope",
            "build_number": "1",
        },
    )
    assert response.status_code == 404
    assert len(lookups) == 1
