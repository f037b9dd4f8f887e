"""Crash harness: acknowledged writes survive ``kill -9`` exactly once.

One trial:

1. start a real server process (``bldst server start``) on a database;
2. create a batch of builds, then let several client threads send bursts of transitions
   (state reports, failures, retries that start a new attempt), each with its own
   ``Idempotency-Key`` and a unique message;
3. ``kill -9`` the server's process group at a random moment;
4. restart it on the same database and retry, with the same key and body, every request
   that got no response (``unknown``); each must now be acknowledged;
5. check every build's ``GET /builds/{id}/state``: the history is exactly ``0 pending``
   followed by the acknowledged transitions in order, each present once (none lost, none
   duplicated), and on SQLite ``PRAGMA integrity_check`` is ``ok``.

Run by hand: ``python -m tests.reliability.crash --trials 20 [--database-url URL]``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from buildstate.server.settings import DEV_API_KEY
from tests.services import UNREACHED_RATE_LIMITS, build_body, free_port

BLDST = Path(sys.executable).with_name("bldst")
ADMIN = {"X-API-Key": DEV_API_KEY}


@dataclass(frozen=True)
class Step:
    """One transition of a build's plan, and the history row it must append."""

    path: str  # "state" or "failure"
    body: dict[str, Any]
    key: str
    tag: str  # unique; the row's message

    @property
    def row(self) -> tuple[int, str, str]:
        status = self.body.get("status", "failed")
        return (int(self.body["state_code"]), str(status), self.tag)


def plan(build_id: str, length: int, rng: random.Random) -> list[Step]:
    """A legal run of transitions: rising codes, with failures retried by a new attempt."""
    steps: list[Step] = []
    code = 0
    while len(steps) < length:
        code += rng.randint(1, 3)  # at most 90: never the final state 100
        tag = f"crash-{build_id[:8]}-{len(steps)}-{uuid.uuid4().hex[:8]}"
        if rng.random() < 0.15 and steps and steps[-1].path == "state":
            body: dict[str, Any] = {"state_code": code, "error_message": tag}
            steps.append(Step("failure", body, str(uuid.uuid4()), tag))
            continue  # the next report retries: a new attempt from this code
        status = rng.choice(["in_progress", "completed"])
        steps.append(
            Step(
                "state",
                {"state_code": code, "status": status, "message": tag},
                uuid.uuid4().hex,
                tag,
            )
        )
    return steps


class ServerProcess:
    """``bldst server start`` in its own process group (so kill -9 takes all of it)."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url = database_url
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "BUILDSTATE_MODE": "development",
            "LOG_LEVEL": "warning",
            **UNREACHED_RATE_LIMITS,
        }
        env.pop("BUILDSTATE_SQLITE_SYNCHRONOUS", None)  # the durable default, FULL
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BLDST), "server", "start", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class TrialResult:
    acknowledged: int = 0
    unknown: int = 0  # no response before the kill (then retried)
    in_flight: int = 0  # of those, requests the kill cut mid-way (not refused outright)
    replayed: int = 0  # retries answered from the idempotency record
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # rows or answers nobody asked for
    integrity: str = "n/a"

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected) and self.integrity in (
            "ok",
            "n/a",
        )


@dataclass
class BuildRun:
    build_id: str
    steps: list[Step]
    acked: int = 0  # steps[:acked] were acknowledged
    pending: Step | None = None  # sent, no answer
    in_flight: bool = False  # the connection broke mid-request (not refused outright)


def _drive(base: str, runs: list[BuildRun], errors: list[str]) -> None:
    """Send each build's next step in turn until every build is done or blocked."""
    with httpx.Client(base_url=base, headers=ADMIN, timeout=10) as client:
        active = list(runs)
        while active:
            for run in list(active):
                step = run.steps[run.acked]
                try:
                    response = client.post(
                        f"/builds/{run.build_id}/{step.path}",
                        json=step.body,
                        headers={"Idempotency-Key": step.key},
                    )
                except httpx.TransportError as exc:
                    run.pending = step  # unknown: it may or may not have committed
                    run.in_flight = not isinstance(exc, httpx.ConnectError)
                    active.remove(run)
                    continue
                if response.status_code not in (200, 201):
                    errors.append(
                        f"{run.build_id} {step.tag}: {response.status_code} {response.text}"
                    )
                    active.remove(run)
                    continue
                run.acked += 1
                if run.acked == len(run.steps):
                    active.remove(run)


def run_trials(
    database_url: str,
    workdir: Path,
    *,
    trials: int,
    seed: int,
    builds: int = 24,
    threads: int = 4,
    steps_per_build: int = 30,
    kill_window: tuple[float, float] = (0.3, 1.5),
) -> list[TrialResult]:
    """``trials`` crashes in a row on one database: each restart also serves the next trial."""
    rng = random.Random(seed)
    server = ServerProcess(database_url, workdir / f"server-{seed}.log")
    results = []
    server.start()
    try:
        for trial in range(trials):
            results.append(
                _trial(
                    server, rng, f"{seed}-{trial}", builds, threads, steps_per_build, kill_window
                )
            )
    finally:
        server.stop()
    return results


def _trial(
    server: ServerProcess,
    rng: random.Random,
    name: str,
    builds: int,
    threads: int,
    steps_per_build: int,
    kill_window: tuple[float, float],
) -> TrialResult:
    result = TrialResult()
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as admin:
        project = admin.post("/projects/", json={"name": f"crash-{uuid.uuid4().hex[:12]}"})
        assert project.status_code == 201, project.text
        runs = []
        for i in range(builds):
            made = admin.post(
                "/builds",
                json=build_body(project.json()["id"], f"crash-{name}-{i}"),
            )
            assert made.status_code == 201, made.text
            build_id = made.json()["id"]
            runs.append(BuildRun(build_id, plan(build_id, steps_per_build, rng)))

    errors: list[str] = []
    workers = [
        threading.Thread(target=_drive, args=(server.url, runs[i::threads], errors))
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    time.sleep(rng.uniform(*kill_window))
    server.kill9()
    for worker in workers:
        worker.join(timeout=60)
    result.unexpected.extend(errors)
    if server.database_url.startswith("sqlite"):
        result.integrity = sqlite_integrity(server.database_url)  # the file as the crash left it

    server.start()
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        for run in runs:
            if run.pending is None:
                continue
            result.unknown += 1
            result.in_flight += run.in_flight
            step = run.pending
            response = client.post(
                f"/builds/{run.build_id}/{step.path}",
                json=step.body,
                headers={"Idempotency-Key": step.key},
            )
            if response.status_code in (200, 201):
                run.acked += 1
                result.replayed += response.headers.get("Idempotent-Replayed") == "true"
            else:
                result.unexpected.append(
                    f"retry {step.tag}: {response.status_code} {response.text}"
                )
        for run in runs:
            result.acknowledged += run.acked
            _check_history(client, run, result)
    return result


def _check_history(client: httpx.Client, run: BuildRun, result: TrialResult) -> None:
    response = client.get(f"/builds/{run.build_id}/state")
    if response.status_code != 200:
        result.unexpected.append(f"{run.build_id}: GET state {response.status_code}")
        return
    history = response.json()["history"]
    rows = [(h["state_code"], h["status"], h["message"]) for h in history]
    expected = [step.row for step in run.steps[: run.acked]]
    tags = [message for _, _, message in rows]
    for step in run.steps[: run.acked]:
        count = tags.count(step.tag)
        if count == 0:
            result.lost.append(step.tag)
        elif count > 1:
            result.duplicated.append(step.tag)
    if rows[1:] != expected or rows[:1] != [(0, "pending", rows[0][2])]:
        result.unexpected.append(f"{run.build_id}: history {rows} != expected {expected}")
    last = history[-1]
    if response.json()["current_state"] != last["state_code"]:
        result.unexpected.append(f"{run.build_id}: current_state is not the newest row")


def sqlite_integrity(database_url: str) -> str:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="buildstate-crash-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'crash.db'}"
        results = run_trials(url, Path(tmp), trials=args.trials, seed=args.seed)
    for trial, result in enumerate(results):
        print(f"trial {trial} (seed {args.seed}): {result}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
