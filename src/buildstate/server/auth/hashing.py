"""Password hashing, bounded so that logins never starve API traffic.

An Argon2 hash takes a core for about 150 ms (on purpose) and 64 MiB. Every login pays one,
known user or not (see :func:`security.verify_password`), so a flood of logins would
otherwise take every core and every API request would wait behind it. Here:

- at most ``concurrency`` hashes run at once, on threads of their own;
- after each hash its slot rests as long as the hash took (the caller has its answer
  already): hashing takes at most half of ``concurrency`` cores, however many logins
  arrive. A lower CPU priority alone did not keep it from slowing requests: an Argon2 hash
  also takes the memory bandwidth the other core needs;
- those threads run at the lowest CPU priority (Linux: nice 19), so a hash gets the cores
  that requests do not need, and API-key and JWT requests keep theirs;
- at most ``queue`` more wait; beyond that a login (or a password change) gets 503 with
  ``Retry-After`` at once, without hashing.

Unknown and known users still cost the same: both wait for and take a hashing slot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from buildstate.server.errors import DomainError

log = logging.getLogger("buildstate.auth")
T = TypeVar("T")
NICENESS = 19  # CFS gives such a thread ~1.5 % of a core that normal threads want


class HashingBusy(DomainError):
    status_code = 503


class PasswordHashing:
    def __init__(self, concurrency: int, queue: int) -> None:
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="password-hash", initializer=_lower_priority
        )
        self._admitted = threading.BoundedSemaphore(concurrency + queue)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a hashing thread; 503 if too many are running and waiting."""
        if not self._admitted.acquire(blocking=False):
            raise HashingBusy(
                "Too many logins in progress; retry in 1 second", headers={"Retry-After": "1"}
            )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()

        def hash_then_rest() -> None:
            started = time.monotonic()
            try:
                outcome: tuple[T | None, BaseException | None] = (fn(*args), None)
            except BaseException as exc:
                outcome = (None, exc)
            loop.call_soon_threadsafe(_settle, answer, *outcome)
            time.sleep(time.monotonic() - started)  # the slot rests (see the module doc)

        try:
            job = self._pool.submit(hash_then_rest)
        except BaseException:
            self._admitted.release()
            raise
        # Released when the hash and its rest are done, even if the client has gone.
        job.add_done_callback(self._release)
        return await answer

    def _release(self, _: Future[None]) -> None:
        self._admitted.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _settle(answer: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if answer.cancelled():  # the client went away
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)  # type: ignore[arg-type]


def _lower_priority() -> None:
    if sys.platform != "linux":  # elsewhere the priority would be the whole process's
        return
    thread = threading.get_native_id()
    try:  # relative to the process's own niceness (only root may lower it again)
        os.setpriority(
            os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICENESS)
        )
    except OSError as exc:
        log.warning("password hashing runs at normal priority: %s", exc)
