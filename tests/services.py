"""Real services for the tests (and bench/): a throwaway PostgreSQL cluster on a free
loopback port.

Under ``CI=true`` a missing PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class ServiceUnavailable(RuntimeError):
    pass


# One key sends thousands of requests a second in tests and benchmarks: the rate limits
# are counted on every request, as in production, but set beyond what a run can reach
# (tests/server/test_ratelimit.py checks the limits themselves).
UNREACHED_RATE_LIMITS = {
    "BUILDSTATE_RATE_LIMIT_READS": "100000000/minute",
    "BUILDSTATE_RATE_LIMIT_WRITES": "100000000/minute",
}


def build_body(project_id: str, build_number: str) -> dict[str, str]:
    """A ``POST /builds`` body on the development catalog (``aws-commercial``,
    ``rhel-9.3``, ``base``)."""
    return {
        "project_id": project_id,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": build_number,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path:
    candidates = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise ServiceUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root; run the cluster as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run_as_postgres(cmd: list[str]) -> None:
    subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def postgres_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a PostgreSQL cluster on a free loopback port; yield its base URL
    (``postgresql://postgres@127.0.0.1:PORT``, no database); stop and remove it.

    Tests run it with fsync off (speed); ``durable=True`` keeps PostgreSQL's durable
    defaults, for benchmarks that compare with SQLite's ``synchronous=FULL``.
    """
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="buildstate-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                          "--auth=trust", "--encoding=UTF8", "--no-sync"])  # fmt: skip
        _run_as_postgres([*pg_ctl, "-o", options, "-l", str(root / "log"), "-w", "-t", "60",
                          "start"])  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceUnavailable(f"could not start PostgreSQL: {exc.stderr or exc.stdout}") from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        stop = _as_postgres([*pg_ctl, "-m", "immediate", "-w", "stop"])
        subprocess.run(stop, capture_output=True, check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """``CREATE DATABASE name`` on the cluster at ``base_url``; returns its URL."""

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn on a free loopback port, in a thread (its own event loop
    and connection pools); yields the base URL and stops the server afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
