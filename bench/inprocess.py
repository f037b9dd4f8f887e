"""The server's own cost per request, without HTTP or a load generator:
``python -m bench.inprocess [--workloads state,create,get,dashboard] [--requests 4000]``.

Drives the ASGI application directly on one event loop, 16 requests in flight, over a
fresh SQLite file seeded like ``bench.run``'s (development data, project ``bench-p0``,
``--builds`` builds in progress at state 50). For each workload it reports the process
CPU per request (every thread: event loop, SQLite writer, readers) and the requests per
second of the loop. CPU time is what a change to the request path moves; it varies far
less than wrk's throughput when other work shares the machine, which makes this the
A/B tool for a refactoring (run it on both commits, alternating, ``--repeat`` times).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.services import UNREACHED_RATE_LIMITS, build_body

from buildstate.server.app import create_app
from buildstate.server.settings import DEV_API_KEY, Settings

CONCURRENCY = 16
HEADERS = [(b"x-api-key", DEV_API_KEY.encode()), (b"content-type", b"application/json")]
Call = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


def asgi_client(app: Any) -> Call:
    """``call(method, path, body)`` → (status, body), straight into ``app``."""

    async def call(method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the client stays connected
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks)

    return call


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"].endswith("failed"):
            raise RuntimeError(message.get("message"))

    task = asyncio.create_task(app({"type": "lifespan", "state": {}}, inbox.get, send))
    await asyncio.wait_for(started.wait(), 120)
    return task, inbox


async def _check(call: Call, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    status, answer = await call(method, path, json.dumps(body).encode() if body else b"")
    if status >= 300:
        raise RuntimeError(f"{method} {path} → {status}: {answer[:300]!r}")
    return json.loads(answer)


async def _seed(call: Call, builds: int) -> tuple[str, list[str]]:
    project = await _check(call, "POST", "/projects/", {"name": "bench-p0"})
    ids = []
    for i in range(builds):
        body = build_body(project["id"], f"seed-{i}")
        build = await _check(call, "POST", "/builds", body)
        ids.append(build["id"])
        await _check(call, "POST", f"/builds/{build['id']}/state", _STATE)
    return project["id"], ids


_STATE = {"state_code": 50, "status": "in_progress"}


def _workloads(
    project_id: str, ids: list[str]
) -> dict[str, Callable[[int], tuple[str, str, bytes]]]:
    state = json.dumps(_STATE).encode()
    numbers = itertools.count()  # unique across rounds
    return {
        "state": lambda i: ("POST", f"/builds/{ids[i % len(ids)]}/state", state),
        "create": lambda i: (
            "POST",
            "/builds",
            json.dumps(build_body(project_id, f"c-{next(numbers)}")).encode(),
        ),
        "get": lambda i: ("GET", f"/builds/{ids[i % len(ids)]}", b""),
        "dashboard": lambda i: ("GET", "/dashboard/summary", b""),
        "list": lambda i: ("GET", "/builds?limit=100", b""),
    }


async def _drive(call: Call, request: Callable[[int], tuple[str, str, bytes]], n: int) -> None:
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            status, answer = await call(*request(i))
            if status >= 300:
                raise RuntimeError(f"{request(i)[:2]} → {status}: {answer[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def measure(
    names: list[str], requests: int, repeat: int, builds: int, *, fast: bool = True
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            DATABASE_URL=f"sqlite:///{Path(tmp) / 'bench.db'}",
            LOG_LEVEL="warning",
            **UNREACHED_RATE_LIMITS,
        )
        app = create_app(settings)
        if not fast:  # every request through FastAPI's handler (see server/routing.py)
            app.state.fast_routes = {}
        task, inbox = await _lifespan(app)
        try:
            call = asgi_client(app)
            workloads = _workloads(*await _seed(call, builds))
            for name in names:  # warm-up: caches, compiled statements
                await _drive(call, workloads[name], requests // 4)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
            for _ in range(repeat):
                for name in names:
                    cpu, wall = time.process_time(), time.perf_counter()
                    await _drive(call, workloads[name], requests)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    results[name].append((cpu / requests * 1e6, requests / wall))
        finally:
            await inbox.put({"type": "lifespan.shutdown"})
            await task
    return {
        name: {
            "cpu_us_per_request": round(statistics.median(c for c, _ in runs), 1),
            "requests_per_second": round(statistics.median(r for _, r in runs)),
            "runs": runs,
        }
        for name, runs in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="state,create,get,dashboard")
    parser.add_argument("--requests", type=int, default=4000, help="per workload and round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--builds", type=int, default=200, help="builds preloaded")
    parser.add_argument(
        "--without-fast-routes",
        action="store_true",
        help="answer every request with FastAPI's handler: what the @fast plans save",
    )
    args = parser.parse_args(argv)
    names = args.workloads.split(",")
    unknown = set(names) - set(_workloads("p", ["x"]))
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    fast = not args.without_fast_routes
    summary = asyncio.run(measure(names, args.requests, args.repeat, args.builds, fast=fast))
    print(f"{'workload':<10} {'CPU µs/req':>11} {'req/s':>7}")
    for name, result in summary.items():
        cpu, rate = result["cpu_us_per_request"], result["requests_per_second"]
        print(f"{name:<10} {cpu:>11.1f} {rate:>7}")
    json.dump(summary, sys.stderr)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
