"""Counting failed logins and invalid credentials, in bounded memory.

Password logins (:class:`LoginThrottle`, after OWASP's authentication cheat sheet) slow an
attacker down without locking the owner out:

- per client address *and* username, an exponential backoff: after ``per_pair`` failures
  the pair waits 1 s, then 2, 4, … (at most the window) after each further failure. An
  attacker elsewhere never delays the owner;
- per address (any usernames, against password spraying) and per username (any address,
  against a distributed guess) a limit beyond which the same backoff applies, except to a
  username logging in from an address where it has logged in before ("known good").

A correct password from a known-good address, or an admin, ends a username's lockout.
In-process: each worker counts on its own, so N workers allow up to N times the limits.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from buildstate.server.errors import TooManyRequests

_MAX_KEYS = 100_000  # bounded memory under a flood of made-up usernames or credentials
_GOOD_ADDRESSES_PER_USER = 8


class FailureCounter:
    """Failures per key as a leaky bucket: each adds 1 and the level leaks ``limit`` per
    ``window`` seconds. A key is over the limit once ``limit`` failures came faster than
    that, and stays over it while they keep coming. Two floats per key, at most
    ``_MAX_KEYS`` keys (the least recently failed are forgotten first)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self._rate = limit / window_seconds
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __bool__(self) -> bool:
        """Whether any key has failed lately (and is remembered)."""
        return bool(self._levels)

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` is under the limit again, or ``None`` if it is now."""
        excess = self._level(key, time.monotonic()) - (self.limit - 1)
        return max(1, math.ceil(excess / self._rate)) if excess > 0 else None

    def add(self, key: str) -> None:
        now = time.monotonic()
        self._levels[key] = (self._level(key, now) + 1, now)
        self._levels.move_to_end(key)
        while len(self._levels) > _MAX_KEYS:
            self._levels.popitem(last=False)

    def _level(self, key: str, now: float) -> float:
        level, since = self._levels.get(key, (0.0, now))
        return max(0.0, level - (now - since) * self._rate)


@dataclass
class _Streak:
    failures: int
    last: float
    blocked_until: float


class Backoff:
    """Failures per key, forgotten ``window`` seconds after the last one. From the
    ``limit``-th on, each failure blocks the key for twice as long as the previous one
    (1 s, 2 s, 4 s …, at most the window)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._streaks: OrderedDict[str, _Streak] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        streak = self._streaks.get(key)
        now = time.monotonic()
        if streak is None or streak.blocked_until <= now:
            return None
        return max(1, math.ceil(streak.blocked_until - now))

    def add(self, key: str) -> None:
        now = time.monotonic()
        streak = self._streaks.pop(key, None)
        if streak is None or now - streak.last > self.window:
            streak = _Streak(0, now, now)
        streak.failures += 1
        streak.last = now
        if streak.failures >= self.limit:
            wait = min(self.window, 2.0 ** min(streak.failures - self.limit, 32))
            streak.blocked_until = now + wait
        self._streaks[key] = streak
        while len(self._streaks) > _MAX_KEYS:
            self._streaks.popitem(last=False)

    def clear(self, key: str) -> None:
        self._streaks.pop(key, None)

    def clear_ending(self, suffix: str) -> None:
        """Forget every key that ends with ``suffix`` (a scan: for rare admin actions)."""
        for key in [k for k in self._streaks if k.endswith(suffix)]:
            del self._streaks[key]


class LoginThrottle:
    def __init__(self, per_pair: int, per_address: int, per_user: int, window: float) -> None:
        self._pairs = Backoff(per_pair, window)
        self._addresses = Backoff(per_address, window)
        self._users = Backoff(per_user, window)
        self._good: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def check(self, username: str, address: str | None) -> None:
        """Raise 429 (with ``Retry-After``) if this login has to wait."""
        checks = [(self._pairs, _pair(username, address), "this username from this address")]
        if not self._known_good(username, address):
            if address:
                checks.append((self._addresses, address, "this address"))
            checks.append((self._users, username, "this username from new addresses"))
        for backoff, key, what in checks:
            wait = backoff.retry_after(key)
            if wait is not None:
                raise TooManyRequests(
                    f"Too many failed logins for {what}; retry in {wait} seconds",
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, username: str, address: str | None) -> None:
        self._pairs.add(_pair(username, address))
        if address:
            self._addresses.add(address)
        self._users.add(username)

    def succeeded(self, username: str, address: str | None) -> None:
        """A correct password: the pair's and the username's failures are forgotten, and
        the address becomes known good for the username."""
        self._pairs.clear(_pair(username, address))
        self._users.clear(username)
        if address:
            good = self._good.pop(username, None) or OrderedDict()
            good[address] = None
            good.move_to_end(address)
            while len(good) > _GOOD_ADDRESSES_PER_USER:
                good.popitem(last=False)
            self._good[username] = good
            while len(self._good) > _MAX_KEYS:
                self._good.popitem(last=False)

    def unlock(self, username: str) -> None:
        """An admin ends the username's lockout and backoffs, from every address."""
        self._users.clear(username)
        self._pairs.clear_ending(_pair(username, ""))

    def _known_good(self, username: str, address: str | None) -> bool:
        return address is not None and address in self._good.get(username, ())


def _pair(username: str, address: str | None) -> str:
    return f"{address if address is not None else '-'}|{username}"
