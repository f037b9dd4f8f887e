"""One workload, one wrk run: ``bench/load.lua`` builds the requests and prints the result."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.preload import PROJECTS

SCRIPT = Path(__file__).with_name("load.lua")
CONNECTIONS, THREADS = 16, 2
WORKLOADS = {
    "state": "POST /builds/{id}/state",
    "create": "POST /builds",
    "get": "GET /builds/{id}",
    "list": "GET /builds?limit=100",
    "list_filtered": "GET /builds?limit=100&project_id&status",
    "dashboard": "GET /dashboard/summary",
    "mixed": "80% reads / 20% state writes",
}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    return found


def run_wrk(url: str, workload: str, n: int, duration: float, nonce: str) -> dict[str, Any]:
    """Run ``workload`` against ``url`` (always 127.0.0.1) for ``duration`` seconds."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only targets 127.0.0.1, not {url}")
    cmd = [
        wrk_binary(),
        f"-c{CONNECTIONS}",
        f"-t{THREADS}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        workload,
        str(n),
        nonce,
        str(PROJECTS),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            raw = json.loads(line.removeprefix("BENCH_RESULT "))
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "errors": raw["non2xx"] + raw["socket_errors"],
        "statuses": raw["statuses"],
        "socket_errors": raw["socket_errors"],
    }
