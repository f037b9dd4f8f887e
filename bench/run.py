"""The benchmark: ``python -m bench.run [--db sqlite|postgresql] [--sizes 10000,100000]
[--workers 1,2] [--duration 10] [--repeat 3] [--workloads state,get,…]``.

For each size N: a fresh database, the server started once to migrate and seed it, the
catalog created through the API, N builds preloaded in bulk. Then for each worker count:
the server started, a short warm-up, and ``--repeat`` rounds of every workload, the
workloads interleaved within each round. The table shows medians over the rounds; the
JSON in ``bench/out/`` keeps every run. Everything started is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from bench import preload, report
from bench.databases import UrlFor, postgres_databases, sqlite_databases
from bench.server import ResourceSampler, Server, running_server
from bench.wrk import WORKLOADS, run_wrk, wrk_binary

WARMUP_SECONDS = 2.0


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def _workloads(text: str) -> list[str]:
    names = [part for part in text.split(",") if part]
    if unknown := set(names) - set(WORKLOADS):
        raise argparse.ArgumentTypeError(f"unknown workloads {sorted(unknown)}: {list(WORKLOADS)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", type=_int_list, default=[10_000, 100_000], help="N builds")
    parser.add_argument("--workers", type=_int_list, default=[1], help="server processes")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every workload")
    parser.add_argument("--workloads", type=_workloads, default=list(WORKLOADS))
    return parser.parse_args(argv)


def databases(db: str) -> contextlib.AbstractContextManager[UrlFor]:
    return sqlite_databases() if db == "sqlite" else postgres_databases()


def prepare(url_for: UrlFor, n: int, log: Path) -> tuple[str, float]:
    """A fresh database with N preloaded builds; its URL and the preload's seconds."""
    url = url_for(f"bench_{n}")
    with running_server(url, 1, log) as server:
        preload.seed_catalog(server.url)
    started = time.monotonic()
    preload.load(url, n)
    return url, round(time.monotonic() - started, 1)


def measure(server: Server, workload: str, n: int, duration: float, nonce: str) -> dict[str, Any]:
    """One wrk run, with the server's memory and CPU, wrk's CPU, and the CPU everything
    else on the machine used meanwhile (``other_cpu_percent``: other load skews results)."""
    wrk_before = _children_cpu_seconds()
    with ResourceSampler(server.pid) as sampler:
        result = run_wrk(server.url, workload, n, duration, nonce)
    wrk_cpu = round(100 * (_children_cpu_seconds() - wrk_before) / duration, 1)
    other = sampler.machine_cpu_percent - sampler.cpu_percent - wrk_cpu
    return {
        **result,
        "peak_rss_mb": sampler.peak_rss_mb,
        "peak_hwm_mb": sampler.peak_hwm_mb,
        "cpu_percent": sampler.cpu_percent,
        "wrk_cpu_percent": wrk_cpu,
        "other_cpu_percent": round(max(other, 0.0), 1),
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rounds(args: argparse.Namespace, log: Path) -> Iterator[dict[str, Any]]:
    with databases(args.db) as url_for:
        for n in args.sizes:
            url, seconds = prepare(url_for, n, log)
            print(f"{args.db} N={n:,}: preloaded in {seconds:.1f}s", flush=True)
            for workers in args.workers:
                with running_server(url, workers, log) as server:
                    for workload in args.workloads:
                        run_wrk(server.url, workload, n, WARMUP_SECONDS, f"warm{workers}")
                    for run in _interleaved(server, args, n, workers):
                        yield {**run, "preload_seconds": seconds}


def _interleaved(
    server: Server, args: argparse.Namespace, n: int, workers: int
) -> Iterator[dict[str, Any]]:
    for rnd in range(1, args.repeat + 1):
        for workload in args.workloads:
            tag = {"db": args.db, "n": n, "workers": workers, "workload": workload, "round": rnd}
            run = measure(server, workload, n, args.duration, nonce=f"{workers}-{rnd}")
            print(_progress(tag, args.repeat, run), flush=True)
            yield {**tag, **run}


def _progress(tag: dict[str, Any], repeat: int, run: dict[str, Any]) -> str:
    return (
        f"  [{tag['db']} N={tag['n']:,} workers={tag['workers']} round {tag['round']}/{repeat}] "
        f"{tag['workload']:<13} {run['rps']:>8,.0f} req/s  p50 {run['p50_ms']:6.1f} ms  "
        f"p99 {run['p99_ms']:6.1f} ms  errors {run['errors']}  rss {run['peak_rss_mb']:.0f} MB"
    )


def _terminate(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_binary()
    signal.signal(signal.SIGTERM, _terminate)
    report.OUT.mkdir(exist_ok=True)
    log = report.OUT / f"server-{args.db}.log"
    machine = report.machine()
    runs = list(rounds(args, log))
    rows = report.summarize(runs)
    print()
    print(report.table(rows))
    print()
    print("\n".join(report.check_targets(rows)))
    payload = {"machine": machine, "settings": vars(args), "summary": rows, "runs": runs}
    print(f"\nwritten: {report.write(payload, f'results-{args.db}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
