"""`bldst db upgrade` and `bldst server start` explain start-up problems in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ADMIN, bldst_server

BLDST = str(Path(sys.executable).with_name("bldst"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BLDST, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_db_upgrade_migrates_and_says_to_which_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = run("db", "upgrade", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("database is at revision ")
    assert run("db", "upgrade", DATABASE_URL=url).stdout == first.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("db", "upgrade"), {"DATABASE_URL": "mysql://x/y"}, "scheme 'mysql' is not supported"),
        (
            ("db", "upgrade"),
            {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"},
            "cannot use the database",
        ),
        (
            ("server", "start", "--port", "1"),
            {"JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "abc"},
            "invalid setting: JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (("server", "start", "--port", "1", "--production"), {}, "set JWT_SECRET_KEY"),
        (
            ("server", "start", "--port", "1"),
            {"BUILDSTATE_FORWARDED_ALLOW_IPS": "10.0.0.1,proxy.local"},
            "'proxy.local' in BUILDSTATE_FORWARDED_ALLOW_IPS is not an IP address or network",
        ),
    ],
)
def test_startup_problems_are_one_clear_error(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env}
    result = run(*args, **env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _client_addresses(url: str, forwarded_for: str) -> set[str]:
    """Fail a login saying it was forwarded for ``forwarded_for``; the audited addresses."""
    httpx.post(
        f"{url}/token",
        data={"username": "admin", "password": "wrong"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    records = httpx.get(f"{url}/audit", headers=ADMIN, params={"action": "POST /token"}).json()
    return {r["client_address"] for r in records}


def test_forwarding_headers_are_believed_only_from_configured_proxies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proxy.db'}"
    with bldst_server(url, tmp_path / "default.log") as server:
        assert _client_addresses(server, "203.0.113.9") == {"127.0.0.1"}
    with bldst_server(
        url, tmp_path / "proxied.log", BUILDSTATE_FORWARDED_ALLOW_IPS="127.0.0.0/8"
    ) as server:
        assert "203.0.113.7" in _client_addresses(server, "203.0.113.7")


def _half_sent(url: str, path: str) -> socket.socket:
    """A connection that sends a request's headers and 10 of its 100 body bytes."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN['X-API-Key']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"name": "')
    return sock


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received  # the server closed the connection


def test_slow_bodies_time_out_idle_connections_close_and_connections_are_capped(
    tmp_path: Path,
) -> None:
    limits = {
        "BUILDSTATE_MAX_CONNECTIONS": "20",
        "BUILDSTATE_BODY_TIMEOUT_SECONDS": "1",
        "BUILDSTATE_KEEPALIVE_TIMEOUT_SECONDS": "1",
    }
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    with bldst_server(url, tmp_path / "server.log", **limits) as server:
        assert httpx.get(f"{server}/health").status_code == 200  # started and seeded
        started = time.monotonic()
        # A FastAPI route and a hot path (which reads the body itself).
        held = [_half_sent(server, "/platforms/" if n % 2 else "/builds") for n in range(19)]
        over = httpx.get(f"{server}/health")
        assert over.status_code == 503  # the 20th connection
        answers = [_answer(sock) for sock in held]
        assert time.monotonic() - started < 8
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"did not arrive within 1 seconds" in answer
        assert httpx.get(f"{server}/health").status_code == 200
        idle = socket.create_connection((urlsplit(server).hostname, urlsplit(server).port))
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(idle).startswith(b"HTTP/1.1 200 ")  # then closed after 1 s idle
        for sock in [*held, idle]:
            sock.close()
