"""The server under test: ``bldst server start`` in its own process group, and a sampler
of its memory and CPU (the process and all its descendants, read from ``/proc``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services import UNREACHED_RATE_LIMITS, free_port

BASE = "http://127.0.0.1"
API_KEY = "dev-key-12345"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    pid: int
    url: str


@contextmanager
def running_server(database_url: str, workers: int, log: Path) -> Iterator[Server]:
    """Start the server (it migrates and seeds the database), yield once it answers, and
    stop it and every process it started, whatever happens."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BUILDSTATE_MODE": "development",
        **UNREACHED_RATE_LIMITS,
    }
    bldst = Path(sys.executable).with_name("bldst")
    cmd = [str(bldst), "server", "start", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"{BASE}:{port}"
        _wait_ready(url, proc)
        yield Server(proc.pid, url)
    finally:
        _stop(proc)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the server did not answer on {url} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_busy_ticks() -> int:
    """CPU ticks all cores spent on anything but idle and iowait since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


class ResourceSampler:
    """Samples the server tree every ``interval`` seconds while in a ``with`` block.

    ``peak_rss_mb``: the largest sum of VmRSS over the tree; ``peak_hwm_mb``: the largest
    VmHWM of one process; ``cpu_percent``: CPU time of the tree over wall time (100 = 1
    core); ``machine_cpu_percent``: the same for the whole machine (from /proc/stat).
    """

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root, self.interval = root, interval
        self.peak_rss_mb = self.peak_hwm_mb = self.cpu_percent = self.machine_cpu_percent = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ticks: dict[int, int] = {}

    def __enter__(self) -> ResourceSampler:
        self._ticks = {pid: _cpu_ticks(pid) for pid in _descendants(self.root)}
        self._machine = _machine_busy_ticks()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self._started
        used = sum(_cpu_ticks(pid) - self._ticks.get(pid, 0) for pid in _descendants(self.root))
        self.cpu_percent = round(100 * used / _CLK_TCK / elapsed, 1)
        busy = _machine_busy_ticks() - self._machine
        self.machine_cpu_percent = round(100 * busy / _CLK_TCK / elapsed, 1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            pids = _descendants(self.root)
            rss = sum(_status_kb(pid, "VmRSS:") for pid in pids) / 1024
            hwm = max(_status_kb(pid, "VmHWM:") for pid in pids) / 1024
            self.peak_rss_mb = max(self.peak_rss_mb, round(rss, 1))
            self.peak_hwm_mb = max(self.peak_hwm_mb, round(hwm, 1))
