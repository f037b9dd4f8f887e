"""Failed logins slow the attacker down, never lock the owner out; password hashing is
bounded. Real uvicorn, clients on distinct loopback addresses (127.0.0.x)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from buildstate.server.app import create_app
from buildstate.server.settings import Settings
from tests.conftest import ADMIN
from tests.services import serve

PASSWORD = "admin2-password"


@contextmanager
def _server(settings: Settings, **limits: int) -> Iterator[str]:
    """A server with these limits and a user ``admin2``; its URL."""
    with serve(create_app(settings.model_copy(update=limits))) as url:
        admin = httpx.post(
            f"{url}/users",
            headers=ADMIN,
            json={"username": "admin2", "password": PASSWORD, "scopes": ["admin"]},
        )
        assert admin.status_code == 201, admin.text
        yield url


def _admin2_id(url: str) -> str:
    users = httpx.get(f"{url}/users", headers=ADMIN).json()
    return next(str(u["id"]) for u in users if u["username"] == "admin2")


def _from(url: str, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=30)


def _token(client: httpx.Client, password: str, username: str = "admin2") -> httpx.Response:
    return client.post("/token", data={"username": username, "password": password})


def _idm(client: httpx.Client, password: str) -> httpx.Response:
    return client.post("/auth/idm", json={"username": "admin2", "password": password})


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(settings: Settings) -> None:
    defaults = {"login_max_failures": 5, "login_max_failures_per_address": 20}
    with (
        _server(settings, **defaults) as url,
        _from(url, "127.0.0.2") as attacker,
        _from(url, "127.0.0.1") as owner,
    ):
        assert [_token(attacker, f"guess-{n}").status_code for n in range(5)] == [401] * 5
        assert _token(owner, PASSWORD).status_code == 200
        assert _idm(owner, PASSWORD).status_code == 200
        # The attacker's own pair backs off, longer after each further failure.
        refused = _token(attacker, "guess-5")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert "this username from this address" in refused.json()["detail"]
        assert _token(attacker, PASSWORD).status_code == 429  # even the right one, for now
        assert _token(owner, PASSWORD).status_code == 200


def test_backoff_doubles_after_each_further_failure(settings: Settings) -> None:
    with (
        _server(settings, login_max_failures=2, login_window_seconds=600) as url,
        _from(url, "127.0.0.2") as attacker,
    ):
        waits = []
        for n in range(2):
            assert _token(attacker, f"guess-{n}").status_code == 401
        for n in range(3):
            refused = _token(attacker, "guess")
            assert refused.status_code == 429
            wait = int(refused.headers["Retry-After"])
            waits.append(wait)
            time.sleep(wait + 0.05)
            assert _token(attacker, f"guess-again-{n}").status_code == 401
        assert waits == [1, 2, 4]


def test_account_lockout_spares_known_addresses_and_an_admin_ends_it(
    settings: Settings,
) -> None:
    limits = {"login_max_failures": 100, "login_max_failures_per_user": 6}
    with _server(settings, **limits) as url, _from(url, "127.0.0.1") as owner:
        assert _token(owner, PASSWORD).status_code == 200  # 127.0.0.1 is now known good
        for n in range(6):  # a distributed guess: 6 addresses, one try each
            with _from(url, f"127.0.0.{10 + n}") as bot:
                assert _token(bot, "guess").status_code == 401
        with _from(url, "127.0.0.30") as new_place:
            locked = _token(new_place, PASSWORD)
            assert locked.status_code == 429
            assert "from new addresses" in locked.json()["detail"]
            assert _token(owner, "typo").status_code == 401  # known good: still checked
            assert _token(owner, PASSWORD).status_code == 200  # and it ends the lockout
            assert _token(new_place, PASSWORD).status_code == 200
            for n in range(6):
                with _from(url, f"127.0.0.{10 + n}") as bot:
                    assert _token(bot, "guess").status_code == 401
            with _from(url, "127.0.0.31") as elsewhere:
                assert _token(elsewhere, PASSWORD).status_code == 429
                lockout = f"/users/{_admin2_id(url)}/lockout"
                assert owner.delete(lockout).status_code == 401
                assert owner.delete(lockout, headers=ADMIN).status_code == 204
                assert _token(elsewhere, PASSWORD).status_code == 200
                missing = owner.delete("/users/nobody/lockout", headers=ADMIN)
                assert missing.status_code == 404


def test_spraying_from_one_address_spares_its_known_users(settings: Settings) -> None:
    limits = {"login_max_failures": 100, "login_max_failures_per_address": 4}
    with _server(settings, **limits) as url, _from(url, "127.0.0.2") as shared:
        assert _token(shared, PASSWORD).status_code == 200  # admin2 works from here
        for n in range(4):
            assert _token(shared, "guess", username=f"someone-{n}").status_code == 401
        assert _token(shared, "guess", username="someone-else").status_code == 429
        assert _token(shared, PASSWORD).status_code == 200


def test_saturated_password_hashing_answers_503_without_hashing(settings: Settings) -> None:
    limits = {"password_hash_concurrency": 1, "password_hash_queue": 1}
    with _server(settings, **limits) as url:
        statuses: Counter[int] = Counter()
        retry_after: set[str] = set()
        start = threading.Barrier(8)

        def login(n: int) -> None:
            with _from(url, f"127.0.0.{40 + n}") as client:
                start.wait()
                response = _token(client, "wrong", username=f"user-{n}")
                statuses[response.status_code] += 1
                if response.status_code == 503:
                    retry_after.add(response.headers["Retry-After"])

        threads = [threading.Thread(target=login, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses[401] >= 2  # one hashing, one waiting: both answered
        assert statuses[503] >= 1, statuses
        assert statuses[401] + statuses[503] == 8, statuses
        assert retry_after == {"1"}
        assert httpx.get(f"{url}/builds", headers=ADMIN).status_code == 200
