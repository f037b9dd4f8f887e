"""Production mode refuses default or weak secrets and says exactly what to set."""

from __future__ import annotations

import random
import secrets
import string

import pytest
from starlette.testclient import TestClient

from buildstate._version import __version__
from buildstate.server.app import create_app
from buildstate.server.bootstrap import StartupRefused
from buildstate.server.settings import (
    DEV_ADMIN_PASSWORD,
    DEV_API_KEY,
    MIN_API_KEY_LENGTH,
    MIN_SECRET_LENGTH,
    Settings,
)
from buildstate.server.strength import KNOWN_DEFAULTS

STRONG = secrets.token_urlsafe(48)
GOOD_KEY = secrets.token_urlsafe(24)


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
        ({}, "set JWT_SECRET_KEY to at least 32 random characters"),
        ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY is 5 characters long"),
        ({"JWT_SECRET_KEY": "a" * 32}, "JWT_SECRET_KEY repeats a 1-character pattern"),
        ({"JWT_SECRET_KEY": "changeme" * 4}, "JWT_SECRET_KEY contains 'changeme'"),
        ({"JWT_SECRET_KEY": "dev-key-12345" * 3}, "JWT_SECRET_KEY contains 'dev-key-12345'"),
        ({"JWT_SECRET_KEY": "xy7Q" * 10}, "repeats a 4-character pattern"),
        ({"JWT_SECRET_KEY": "aabbcaabbcaabbcaabbcaabbcaabbcabcc"}, "only 3 different characters"),
        ({"JWT_SECRET_KEY": "abcdefghijklmnopqrstuvwxyz012345"}, "consecutive characters"),
        ({"JWT_SECRET_KEY": "abcdabcdeabcdabcdeabcdeeabcdabcdeee"}, "only 5 different"),
        ({"JWT_SECRET_KEY": "aaaaaaaaaaaaaaaaaaaaaaabcdefghabcde"}, "looks predictable"),
        (
            {"JWT_SECRET_KEY": STRONG, "API_KEYS": "dev-key-12345"},
            "API_KEYS entry 1 .api-key:1. is 13 characters long",
        ),
        (
            {"JWT_SECRET_KEY": STRONG, "API_KEYS": f"{GOOD_KEY},{'a' * 24}:read"},
            "API_KEYS entry 2 .api-key:2. repeats a 1-character pattern",
        ),
        ({"JWT_SECRET_KEY": STRONG, "API_KEYS": "dev-key-12345" * 2}, "contains 'dev-key-12345'"),
        (
            {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "admin123"},
            "BUILDSTATE_ADMIN_PASSWORD is 8 characters long",
        ),
        (
            {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "password1234"},
            "BUILDSTATE_ADMIN_PASSWORD is a common password with digits or symbols added",
        ),
        (
            {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "Admin!2024!!"},
            "is a common password",
        ),
        (
            {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "secure" * 2},
            "BUILDSTATE_ADMIN_PASSWORD repeats a 6-character pattern",
        ),
    ],
)
def test_production_refuses_weak_configuration(
    settings: Settings, env: dict[str, str], message: str
) -> None:
    with (
        pytest.raises(StartupRefused, match=message) as refused,
        TestClient(create_app(prod(settings, **env))),
    ):
        pass
    expected = "passphrase" if "BUILDSTATE_ADMIN_PASSWORD" in env else "random characters; generate"
    assert expected in str(refused.value)  # each problem says what is accepted


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


@pytest.mark.parametrize(
    "alphabet",
    [string.digits, "0123456789abcdef", string.ascii_letters + string.digits + "-_"],
)
def test_random_secrets_of_the_minimum_length_pass(alphabet: str) -> None:
    """The checks refuse patterns, not randomness: 20 000 random keys and secrets of the
    minimum lengths, drawn (reproducibly) from small and large alphabets, all pass."""
    draw = random.Random(alphabet)
    base = Settings(BUILDSTATE_MODE="production", JWT_SECRET_KEY=STRONG)
    for _ in range(10_000):
        key = "".join(draw.choices(alphabet, k=MIN_API_KEY_LENGTH))
        secret = "".join(draw.choices(alphabet, k=MIN_SECRET_LENGTH))
        candidate = base.model_copy(update={"jwt_secret_key": secret, "api_keys": [key]})
        assert candidate.production_problems() == [], (secret, key)


def test_the_development_credentials_are_known_defaults() -> None:
    assert DEV_API_KEY in KNOWN_DEFAULTS
    assert DEV_ADMIN_PASSWORD in KNOWN_DEFAULTS


DOCS = ("/docs", "/redoc", "/openapi.json")


def _surface(client: TestClient) -> dict[str, object]:
    seen: dict[str, object] = {p: client.get(p).status_code for p in DOCS}
    status = client.get("/status").json()
    seen |= {"version": status["version"], "database_backend": status["database_backend"]}
    return seen


def test_production_hides_the_api_docs_and_status_details_unless_asked(
    settings: Settings,
) -> None:
    env = {"JWT_SECRET_KEY": STRONG, "BUILDSTATE_ADMIN_PASSWORD": "a-long-admin-password"}
    with TestClient(create_app(prod(settings, **env))) as client:
        hidden = _surface(client)
        assert client.get("/status").json()["status"] == "running"
    assert hidden == dict.fromkeys(DOCS, 404) | {"version": None, "database_backend": None}
    exposed = {"BUILDSTATE_EXPOSE_API_DOCS": "true", "BUILDSTATE_EXPOSE_STATUS_DETAILS": "true"}
    with TestClient(create_app(prod(settings, **env, **exposed))) as client:
        shown = _surface(client)
    assert shown == dict.fromkeys(DOCS, 200) | {
        "version": __version__,
        "database_backend": settings.database_url.split(":")[0],
    }


def test_development_shows_them_unless_turned_off(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert _surface(client)["version"] == __version__
        assert client.get("/openapi.json").status_code == 200
    off = settings.model_copy(update={"expose_api_docs": False, "expose_status_details": False})
    with TestClient(create_app(off)) as client:
        assert _surface(client) == dict.fromkeys(DOCS, 404) | {
            "version": None,
            "database_backend": None,
        }
