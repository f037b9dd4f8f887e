"""Per-principal rate limits, by route class: ``read`` operations and ``write`` ones
(those that need the write or admin scope) each have a budget per principal (a user,
whichever of their tokens they use, or a static API key) per window.

Every request that presents a valid credential is counted when its scope is checked (see
:func:`buildstate.server.auth.principal.require`), the fast routes included. Its answer
carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch
seconds, as the seed documents) and the IETF draft's ``RateLimit-Policy`` and
``RateLimit``; once the budget is spent, 429 with ``Retry-After``. Logins are limited
apart, per address and username (see ``auth/throttle.py``).

Budgets are written and parsed as the ``limits`` library does (``6000/minute``) and
counted like its fixed-window strategy: a window opens at a principal's first request and
lasts the limit's period. The counters live in this process (``memory://``): each worker
and replica counts on its own. Counting them here rather than through the library's
asynchronous storage costs a state report ~1 µs instead of ~20 µs (bench/RESULTS.md); a
shared store (Redis) comes with the deployment, behind the same two methods.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItem, parse
from starlette.types import Scope

from buildstate.server.errors import TooManyRequests

RouteClass = Literal["read", "write"]
STATE_KEY = "rate_limit"  # in the request's scope state: (limit, remaining, reset, window)
_SWEEP_EVERY = 4096  # counted requests between two sweeps of closed windows


class RateLimits:
    def __init__(self, reads: str, writes: str) -> None:
        self.items: dict[RouteClass, RateLimitItem] = {"read": parse(reads), "write": parse(writes)}
        # (route class, principal) -> (requests counted, when the window closes)
        self._windows: dict[tuple[RouteClass, str], tuple[int, float]] = {}
        self._counted = 0

    def spend(self, scope: Scope, principal_key: str, kind: RouteClass) -> None:
        """Count one request of ``principal_key`` against its ``kind`` budget and note the
        budget for the response's headers; :class:`TooManyRequests` once it is spent.
        A request is counted once, however many times its scope is checked."""
        state = scope.setdefault("state", {})
        if STATE_KEY in state:
            return
        item = self.items[kind]
        period = item.get_expiry()
        now = time.time()
        key = (kind, principal_key)
        count, closes = self._windows.get(key, (0, 0.0))
        if closes <= now:  # the first request of a new window
            count, closes = 0, now + period
        allowed = count < item.amount
        if allowed:
            count += 1
            self._windows[key] = (count, closes)
        self._counted += 1
        if self._counted % _SWEEP_EVERY == 0:
            self._sweep(now)
        state[STATE_KEY] = (item.amount, item.amount - count, math.ceil(closes), period)
        if not allowed:
            wait = max(1, math.ceil(closes - now))
            raise TooManyRequests(
                f"Rate limit exceeded: {item.amount} {kind} requests per {period} s for this "
                f"credential's owner; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def _sweep(self, now: float) -> None:
        """Forget the windows that have closed (their principals start afresh anyway)."""
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}


def rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers of a response, if its request was counted."""
    noted = scope.get("state", {}).get(STATE_KEY)
    if noted is None:
        return []
    limit, remaining, reset, window = noted
    left = min(window, max(0, math.ceil(reset - time.time())))
    return [
        (b"x-ratelimit-limit", b"%d" % limit),
        (b"x-ratelimit-remaining", b"%d" % remaining),
        (b"x-ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", b'"default";q=%d;w=%d' % (limit, window)),
        (b"ratelimit", b'"default";r=%d;t=%d' % (remaining, left)),
    ]
