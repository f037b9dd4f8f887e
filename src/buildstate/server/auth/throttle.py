"""Failed-login throttling, per username and per client address (sliding window).

In-process: each worker counts on its own, so N workers allow up to N times the limits.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from buildstate.server.errors import TooManyRequests

_MAX_KEYS = 100_000  # bounded memory under a flood of made-up usernames


class LoginThrottle:
    def __init__(self, per_user: int, per_address: int, window_seconds: float) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window_seconds
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, username: str, address: str | None) -> None:
        """Raise 429 (with ``Retry-After``) if either key has too many recent failures."""
        now = time.monotonic()
        for kind, key in self._keys(username, address):
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self.limits[kind]:
                wait = max(1, math.ceil(failures[0] + self.window - now))
                raise TooManyRequests(
                    f"Too many failed logins for this {'user' if kind == 'user' else 'address'};"
                    f" retry in {wait} seconds",
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        for _, key in self._keys(username, address):
            failures = self._recent(key, now)
            if failures is None:
                failures = self._failures[key] = deque()
            failures.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"user:{username}", None)

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", f"user:{username}")]
        if address:
            keys.append(("address", f"address:{address}"))
        return keys

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures
