"""The server's memory under concurrent lists of the heaviest builds (issue 16.4):
``python -m bench.rss [--heavy 1000] [--legacy 100] [--concurrency 4] [--rounds 3]``.

Starts ``bldst server start`` on a fresh SQLite file, creates ``--heavy`` builds with the
largest labels (8 KiB) and metadata (16 KiB) the API accepts, and ``--legacy`` builds whose
metadata is then set to 1 MB straight in the database (what a client could store before
metadata was bounded). Then ``--concurrency`` clients each ask ``GET /builds?limit=1000``
``--rounds`` times, all at once, while the server's resident memory is sampled every
10 ms. Prints the server's RSS before, its peak (sampled, and the kernel's high-water
mark ``VmHWM`` before and after: it includes the filling), and the largest answer and
the slowest, as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from tests.services import UNREACHED_RATE_LIMITS, free_port, wait_for_port

from buildstate.server.settings import DEV_API_KEY

HEADERS = {"X-API-Key": DEV_API_KEY}
MB = 1024 * 1024


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid``, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def _fill(http: httpx.Client, heavy: int, legacy: int) -> list[str]:
    """The builds; the ids of the legacy ones."""
    project = http.post("/projects/", json={"name": "rss"}).json()["id"]
    labels = {f"label-{i:02d}": "v" * 113 for i in range(64)}
    metadata = {"blob": "x" * (16 * 1024 - len('{"blob":""}'))}
    legacy_ids = []
    for i in range(heavy + legacy):
        body = {
            "project_id": project,
            "platform_id": "aws-commercial",
            "os_version_id": "rhel-9.3",
            "image_type_id": "base",
            "build_number": f"rss-{i}",
            "labels": labels,
            "build_metadata": metadata,
        }
        response = http.post("/builds", json=body)
        response.raise_for_status()
        if i >= heavy:
            legacy_ids.append(response.json()["id"])
    return legacy_ids


def _store_legacy(path: Path, ids: list[str]) -> None:
    connection = sqlite3.connect(path, timeout=30)
    with connection:
        big = json.dumps({"log": "x" * 1_000_000})
        connection.executemany(
            "UPDATE builds SET build_metadata = ? WHERE id = ?", [(big, i) for i in ids]
        )
    connection.close()


def measure(heavy: int, legacy: int, concurrency: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rss.db"
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{path}",
            "LOG_LEVEL": "warning",
            **UNREACHED_RATE_LIMITS,
        }
        start = "from buildstate.cli.main import run; run()"
        server = subprocess.Popen(
            [sys.executable, "-c", start, "server", "start", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, timeout=60)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers=HEADERS, timeout=300) as http:
                _store_legacy(path, _fill(http, heavy, legacy))
                http.get("/builds", params={"limit": 10}).raise_for_status()
            memory = _memory(server.pid)
            before = peak = memory["VmRSS"]
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _memory(server.pid)["VmRSS"])
                    time.sleep(0.01)

            def lists(_: int) -> list[tuple[int, float]]:
                answers = []
                with httpx.Client(base_url=base, headers=HEADERS, timeout=300) as http:
                    for _ in range(rounds):
                        began = time.perf_counter()
                        response = http.get("/builds", params={"limit": 1000})
                        response.raise_for_status()
                        answers.append((len(response.content), time.perf_counter() - began))
                return answers

            sampler = threading.Thread(target=sample)
            sampler.start()
            with ThreadPoolExecutor(concurrency) as pool:
                answers = [a for each in pool.map(lists, range(concurrency)) for a in each]
            done.set()
            sampler.join()
            return {
                "heavy": heavy,
                "legacy": legacy,
                "concurrency": concurrency,
                "rss_before_mb": round(before / MB, 1),
                "rss_peak_mb": round(peak / MB, 1),
                "vm_hwm_before_mb": round(memory["VmHWM"] / MB, 1),
                "vm_hwm_mb": round(_memory(server.pid)["VmHWM"] / MB, 1),
                "response_mb": round(max(size for size, _ in answers) / MB, 2),
                "response_seconds_max": round(max(t for _, t in answers), 2),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heavy", type=int, default=1000)
    parser.add_argument("--legacy", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = measure(args.heavy, args.legacy, args.concurrency, args.rounds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
