"""Medians of the repeated runs, the results table, the targets, and the JSON files.

``python -m bench.report bench/out/a.json bench/out/b.json`` prints one Markdown table
(and the target check) for several runs of ``bench.run``, e.g. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.wrk import WORKLOADS

OUT = Path(__file__).with_name("out")
KEY = ("db", "n", "workers", "workload")
# workload → (minimum req/s, maximum p99 ms or None), for SQLite with 1 worker.
TARGETS: dict[str, tuple[float, float | None]] = {
    "state": (1000, 50),
    "create": (800, None),
    "get": (2000, None),
    "list": (600, None),
    "dashboard": (2000, 20),
}
MAX_DROP = 0.20  # throughput drop from the smallest to the largest N
MAX_RSS_MB = 200


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (db, N, workers, workload): medians of rps/p50/p99, summed errors,
    the peak memory of any run, the medians of the server's CPU, of its CPU time per
    request, and of the CPU other processes used meanwhile."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in KEY), []).append(run)
    order = list(WORKLOADS)
    rows = []
    for key, group in sorted(groups.items(), key=lambda kv: (*kv[0][:3], order.index(kv[0][3]))):
        rows.append(
            {
                **dict(zip(KEY, key, strict=True)),
                "runs": len(group),
                "rps": statistics.median(r["rps"] for r in group),
                "p50_ms": statistics.median(r["p50_ms"] for r in group),
                "p99_ms": statistics.median(r["p99_ms"] for r in group),
                "errors": sum(r["errors"] for r in group),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in group),
                "peak_hwm_mb": max(r["peak_hwm_mb"] for r in group),
                "cpu_percent": statistics.median(r["cpu_percent"] for r in group),
                "cpu_ms_per_request": statistics.median(
                    10 * r["cpu_percent"] / r["rps"] for r in group if r["rps"]
                ),
                # NaN for runs recorded before the harness measured other load
                "other_cpu_percent": statistics.median(
                    r.get("other_cpu_percent", math.nan) for r in group
                ),
            }
        )
    return rows


def table(rows: Iterable[dict[str, Any]]) -> str:
    head = (
        "| db | N | workers | workload | req/s | p50 ms | p99 ms | errors | "
        "peak RSS MB (tree / 1 proc) | server CPU % | CPU ms/req | other load % |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['n']:,} | {r['workers']} | {WORKLOADS[r['workload']]} | "
            f"{r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
            f"{r['peak_rss_mb']:.0f} / {r['peak_hwm_mb']:.0f} | {r['cpu_percent']:.0f} | "
            f"{r['cpu_ms_per_request']:.1f} | {_number(r['other_cpu_percent'])} |"
        )
    return "\n".join(lines)


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def check_targets(rows: list[dict[str, Any]]) -> list[str]:
    """The targets, against SQLite with 1 worker: one line each, met or missed."""
    base = [r for r in rows if r["db"] == "sqlite" and r["workers"] == 1]
    if not base:
        return []
    sizes = sorted({r["n"] for r in base})
    at = {(r["workload"], r["n"]): r for r in base}
    lines = []
    for workload, (min_rps, max_p99) in TARGETS.items():
        for n in sizes if workload != "dashboard" else sizes[-1:]:
            if (row := at.get((workload, n))) is None:
                continue
            ok = row["rps"] >= min_rps and (max_p99 is None or row["p99_ms"] <= max_p99)
            want = f"≥{min_rps:,.0f} req/s" + (f", p99 ≤{max_p99:g} ms" if max_p99 else "")
            got = f"{row['rps']:,.0f} req/s, p99 {row['p99_ms']:.1f} ms"
            lines.append(f"{_mark(ok)} {WORKLOADS[workload]} at N={n:,}: {got} (target {want})")
    if len(sizes) > 1:
        for workload in WORKLOADS:
            small, large = at.get((workload, sizes[0])), at.get((workload, sizes[-1]))
            if small and large:
                drop = 1 - large["rps"] / small["rps"]
                lines.append(
                    f"{_mark(drop <= MAX_DROP)} {WORKLOADS[workload]}: N={sizes[0]:,}→"
                    f"{sizes[-1]:,} {small['rps']:,.0f}→{large['rps']:,.0f} req/s, "
                    f"drop {drop:.0%} (target ≤{MAX_DROP:.0%})"
                )
    rss = max(r["peak_hwm_mb"] for r in base)
    lines.append(f"{_mark(rss <= MAX_RSS_MB)} server peak RSS {rss:.0f} MB (≤{MAX_RSS_MB} MB)")
    return lines


def _mark(ok: bool) -> str:
    return "MET   " if ok else "MISSED"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    meminfo = Path("/proc/meminfo").read_text().split()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "ram_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": f"{commit}{' + uncommitted changes' if dirty else ''}",
    }


def write(payload: dict[str, Any], name: str) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def main(paths: list[str]) -> int:
    runs = [run for p in paths for run in json.loads(Path(p).read_text())["runs"]]
    rows = summarize(runs)
    print(table(rows))
    print()
    print("\n".join(check_targets(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
