"""Per-principal rate limits, by route class: ``read`` operations and ``write`` ones
(those that need the write or admin scope) each have a budget per principal (a user,
whichever of their tokens they use, or a static API key) per window.

Every request that presents a valid credential is counted when its scope is checked (see
:func:`buildstate.server.auth.principal.require`), the fast routes included. Its answer
carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch
seconds, as the seed documents) and the IETF draft's ``RateLimit-Policy`` and
``RateLimit``; once the budget is spent, 429 with ``Retry-After``. Logins are limited
apart, per address and username (see ``auth/throttle.py``).

Counters live in ``BUILDSTATE_RATE_LIMIT_STORAGE``: ``memory://`` (the default: per
server process), or a shared store the ``limits`` library knows (``redis://host:6379``)
so that every replica counts against one budget.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import Scope

from buildstate.server.errors import TooManyRequests

RouteClass = Literal["read", "write"]
STATE_KEY = "rate_limit"  # in the request's scope state: (limit, remaining, reset, window)


class RateLimits:
    def __init__(self, reads: str, writes: str, storage: str) -> None:
        self.items: dict[RouteClass, RateLimitItem] = {"read": parse(reads), "write": parse(writes)}
        async_storage = storage if storage.startswith("async+") else f"async+{storage}"
        self._limiter = FixedWindowRateLimiter(storage_from_string(async_storage))

    async def spend(self, scope: Scope, principal_key: str, kind: RouteClass) -> None:
        """Count one request of ``principal_key`` against its ``kind`` budget and note the
        budget for the response's headers; :class:`TooManyRequests` once it is spent.
        A request is counted once, however many times its scope is checked."""
        state = scope.setdefault("state", {})
        if STATE_KEY in state:
            return
        item = self.items[kind]
        allowed = await self._limiter.hit(item, kind, principal_key)
        stats = await self._limiter.get_window_stats(item, kind, principal_key)
        reset = math.ceil(stats.reset_time)
        state[STATE_KEY] = (
            item.amount,
            stats.remaining,
            reset,
            item.get_expiry(),
        )
        if not allowed:
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(
                f"Rate limit exceeded: {item.amount} {kind} requests per "
                f"{item.get_expiry()} s for this credential's owner; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )


def rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers of a response, if its request was counted."""
    noted = scope.get("state", {}).get(STATE_KEY)
    if noted is None:
        return []
    limit, remaining, reset, window = noted
    left = max(0, math.ceil(reset - time.time()))
    return [
        (b"x-ratelimit-limit", b"%d" % limit),
        (b"x-ratelimit-remaining", b"%d" % remaining),
        (b"x-ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", b'"default";q=%d;w=%d' % (limit, window)),
        (b"ratelimit", b'"default";r=%d;t=%d' % (remaining, left)),
    ]
