"""Where a workload's time goes: ``python -m bench.profile --workload state [--db sqlite]
[--n 10000] [--duration 10]``.

Prepares a database like ``bench.run``, drives the workload with wrk while ``py-spy
record --gil`` samples the (single-worker) server: each sample is the stack of the thread
holding the GIL, i.e. where the Python CPU goes (``py-spy``'s idle detection does not work
on every kernel, so without ``--gil`` blocked threads would count as busy). Prints the CPU
each thread used, the samples by component of the innermost frame, the hottest functions
(self and inclusive), and writes the raw collapsed stacks to
``bench/out/profile-<db>-<workload>.txt`` (open it in https://speedscope.app).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import report
from bench.run import WARMUP_SECONDS, databases, prepare
from bench.server import running_server
from bench.wrk import WORKLOADS, run_wrk

SAMPLING_RATE = 200  # per second
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
# What the innermost frame's file is part of: the first matching fragment wins.
COMPONENTS = (
    ("psycopg/", "psycopg"),
    ("sqlite3/", "sqlite3"),
    ("sqlalchemy/orm/loading.py", "SQLAlchemy ORM: rows to objects"),
    ("sqlalchemy/orm/state.py", "SQLAlchemy ORM: rows to objects"),
    ("sqlalchemy/orm/instrumentation.py", "SQLAlchemy ORM: rows to objects"),
    ("sqlalchemy/orm/attributes.py", "SQLAlchemy ORM: attribute access"),
    ("sqlalchemy/orm/", "SQLAlchemy ORM: session, flush, compile"),
    ("sqlalchemy/sql/type_api.py", "column types (datetime, JSON)"),
    ("sqlalchemy/sql/sqltypes.py", "column types (datetime, JSON)"),
    ("buildstate/server/db/types.py", "column types (datetime, JSON)"),
    ("json/", "column types (datetime, JSON)"),
    ("sqlalchemy/sql/", "SQLAlchemy Core: statements, cache keys, compile"),
    ("sqlalchemy/engine/", "SQLAlchemy engine: execute, results"),
    ("sqlalchemy/", "SQLAlchemy: other (pool, events)"),
    ("pydantic", "pydantic: models, validation, JSON"),
    ("buildstate/server/builds/views.py", "buildstate views: rows to models"),
    ("buildstate/", "buildstate: other"),
    ("fastapi/dependencies/", "FastAPI: dependencies"),
    ("fastapi/routing.py", "FastAPI: routing, endpoint, response"),
    ("fastapi/", "FastAPI: other"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn: HTTP"),
    ("h11/", "uvicorn: HTTP"),
    ("anyio/", "anyio: thread pool"),
    ("logging/", "logging"),
    ("asyncio/", "event loop"),
    ("threading.py", "threads"),
    ("queue.py", "threads"),
)


def component(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match["file"] if match else frame
    return next((name for fragment, name in COMPONENTS if fragment in path), "other")


def short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    parts = Path(match["file"]).parts
    return f"{match['func']} ({'/'.join(parts[-2:])})"


def summarize(raw: Path, top: int = 25) -> str:
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append((stack.split(";"), int(count)))
    total = sum(count for _, count in stacks) or 1
    by_component: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        by_component[component(frames[-1])] += count
        self_time[short(frames[-1])] += count
        for frame in {short(f) for f in frames}:
            inclusive[frame] += count

    def block(title: str, counter: Counter[str], limit: int) -> list[str]:
        rows = [f"{100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(limit)]
        return [f"{title}:", *rows, ""]

    lines = [
        f"{total} samples of the thread holding the GIL",
        "",
        *block("innermost frame by component", by_component, 30),
        *block("self (innermost frame)", self_time, top),
        *block("inclusive (frame anywhere on the stack)", inclusive, top * 2),
    ]
    return "\n".join(lines)


def thread_cpu(pid: int) -> dict[int, int]:
    """CPU ticks used so far by each thread of ``pid``."""
    ticks = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rpartition(")")[2].split()
        ticks[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
    return ticks


def cpu_split(pid: int, before: dict[int, int], after: dict[int, int], seconds: float) -> str:
    """The event-loop thread's CPU and the other threads' (aiosqlite, thread pool)."""
    used = {tid: after[tid] - before.get(tid, 0) for tid in after}
    per_second = os.sysconf("SC_CLK_TCK") * seconds / 100
    main = used.pop(pid, 0) / per_second
    busy = sorted((n / per_second for n in used.values() if n), reverse=True)
    others = ", ".join(f"{p:.0f}%" for p in busy[:8])
    return f"CPU: event-loop thread {main:.0f}%, {len(busy)} other busy threads: {others}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--workload", choices=list(WORKLOADS), required=True)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    report.OUT.mkdir(exist_ok=True)
    raw = report.OUT / f"profile-{args.db}-{args.workload}.txt"
    with databases(args.db) as url_for:
        url, _ = prepare(url_for, args.n, report.OUT / f"server-{args.db}.log")
        with running_server(url, 1, report.OUT / f"server-{args.db}.log") as server:
            run_wrk(server.url, args.workload, args.n, WARMUP_SECONDS, "warm")
            before = thread_cpu(server.pid)
            result = run_wrk(server.url, args.workload, args.n, args.duration, "cpu")
            split = cpu_split(server.pid, before, thread_cpu(server.pid), args.duration)
            cmd = [py_spy, "record", "--pid", str(server.pid), "--gil", "--format", "raw",
                   "-o", str(raw), "--rate", str(SAMPLING_RATE),
                   "--duration", str(args.duration)]  # fmt: skip
            with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as spy:
                sampled = run_wrk(server.url, args.workload, args.n, args.duration, "profile")
                spy.wait(args.duration + 60)
    print(f"{WORKLOADS[args.workload]}: {result['rps']:,.0f} req/s, p99 {result['p99_ms']} ms")
    print(f"{split}\n({sampled['rps']:,.0f} req/s while sampled by py-spy)\n")
    print(summarize(raw))
    print(f"raw stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
