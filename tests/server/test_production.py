"""Production mode refuses default or weak secrets and says exactly what to set."""

from __future__ import annotations

import secrets

import pytest
from starlette.testclient import TestClient

from buildstate.server.app import create_app
from buildstate.server.bootstrap import StartupRefused
from buildstate.server.settings import Settings

STRONG = secrets.token_urlsafe(48)


def prod(settings: Settings, **env: str) -> Settings:
    return Settings(
        DATABASE_URL=settings.database_url,
        BUILDSTATE_AUTO_MIGRATE=False,
        BUILDSTATE_MODE="production",
        **env,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set JWT_SECRET_KEY"),
        ({"JWT_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"JWT_SECRET_KEY": STRONG, "API_KEYS": "dev-key-12345"}, "API_KEYS contains dev-"),
        ({"JWT_SECRET_KEY": STRONG, "API_KEYS": "tiny"}, "default or short key"),
        (
            {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "admin123"},
            "BUILDSTATE_ADMIN_PASSWORD is the default",
        ),
    ],
)
def test_production_refuses_weak_configuration(
    settings: Settings, env: dict[str, str], message: str
) -> None:
    with (
        pytest.raises(StartupRefused, match=message),
        TestClient(create_app(prod(settings, **env))),
    ):
        pass


def test_production_refuses_a_database_with_the_default_admin_password(settings: Settings) -> None:
    with TestClient(create_app(settings)):  # development seeds admin/admin123
        pass
    with (
        pytest.raises(StartupRefused, match="still has the development password"),
        TestClient(create_app(prod(settings, JWT_SECRET_KEY=STRONG))),
    ):
        pass


def test_production_with_strong_secrets_serves_and_has_no_dev_key(settings: Settings) -> None:
    api_key = secrets.token_urlsafe(32)
    app = create_app(
        prod(
            settings,
            JWT_SECRET_KEY=STRONG,
            API_KEYS=f"{api_key}:read",
            BUILDSTATE_ADMIN_PASSWORD="a-long-admin-password",
        )
    )
    with TestClient(app) as client:
        assert client.get("/platforms/", headers={"X-API-Key": "dev-key-12345"}).status_code == 401
        assert client.get("/platforms/", headers={"X-API-Key": api_key}).status_code == 200
        assert (
            client.post(
                "/platforms/", headers={"X-API-Key": api_key}, json={"name": "x"}
            ).status_code
            == 403
        )
        login = client.post(
            "/token", data={"username": "admin", "password": "a-long-admin-password"}
        )
        assert login.status_code == 200
        assert (
            client.get(
                "/platforms/aws-commercial",
                headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            ).status_code
            == 404
        )


def test_api_keys_with_unknown_scope_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_app(Settings(DATABASE_URL=settings.database_url, API_KEYS="k:superuser"))
