"""Throttling of failed logins (per username and per client address) and of invalid
credentials (per client address), over sliding windows.

In-process: each worker counts on its own, so N workers allow up to N times the limits.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque

from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.errors import TooManyRequests
from buildstate.server.middleware import StatusWatch, send_json

log = logging.getLogger("buildstate.auth")

_MAX_KEYS = 100_000  # bounded memory under a flood of made-up usernames


class SlidingWindow:
    """Failure times per key within the last ``window`` seconds (bounded memory)."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, limit: int) -> int | None:
        """Seconds until ``key`` is under ``limit`` again, or ``None`` if it is now."""
        now = time.monotonic()
        failures = self._recent(key, now)
        if failures is None or len(failures) < limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def add(self, key: str) -> None:
        now = time.monotonic()
        failures = self._recent(key, now)
        if failures is None:
            failures = self._failures[key] = deque()
        failures.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


class LoginThrottle:
    def __init__(self, per_user: int, per_address: int, window_seconds: float) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self._window = SlidingWindow(window_seconds)

    def check(self, username: str, address: str | None) -> None:
        """Raise 429 (with ``Retry-After``) if either key has too many recent failures."""
        for kind, key in self._keys(username, address):
            wait = self._window.retry_after(key, self.limits[kind])
            if wait is not None:
                raise TooManyRequests(
                    f"Too many failed logins for this {'user' if kind == 'user' else 'address'};"
                    f" retry in {wait} seconds",
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, username: str, address: str | None) -> None:
        for _, key in self._keys(username, address):
            self._window.add(key)

    def succeeded(self, username: str) -> None:
        self._window.clear(f"user:{username}")

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", f"user:{username}")]
        if address:
            keys.append(("address", f"address:{address}"))
        return keys


class BadCredentialThrottle:
    """ASGI middleware: once an address has presented too many invalid credentials within
    the window, its requests that carry a credential get 429 at once, before routing,
    authentication or the database. A flood of bad API keys then costs about what
    ``/health`` costs, and legitimate clients elsewhere do not notice it.

    Only requests that present a credential (``X-API-Key`` or ``Authorization``) count
    and are refused: probes without one still get their 401. In-process, like
    :class:`LoginThrottle`.
    """

    def __init__(self, app: ASGIApp, limit: int, window_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self._window = SlidingWindow(window_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client or not _has_credential(scope):
            await self.app(scope, receive, send)
            return
        address = client[0]
        wait = self._window.retry_after(address, self.limit)
        if wait is not None:
            state = scope.setdefault("state", {})
            state["audited"] = True  # logged once below, not audited per refused request
            detail = f"Too many invalid credentials from this address; retry in {wait} seconds"
            payload = {"detail": detail, "request_id": state.get("request_id", "-")}
            await send_json(
                send, 429, payload, close=False, headers=[(b"retry-after", b"%d" % wait)]
            )
            return
        watch = StatusWatch(send, default=0)
        await self.app(scope, receive, watch)
        if watch.status == 401:
            self._window.add(address)
            if self._window.retry_after(address, self.limit) is not None:
                log.warning("refusing credentials from %s for a while: too many invalid", address)


def _has_credential(scope: Scope) -> bool:
    return any(name in (b"x-api-key", b"authorization") for name, _ in scope["headers"])
