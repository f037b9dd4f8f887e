"""Invalid API keys and tokens, refused cheaply without refusing anyone else.

Failures (401s) are counted per client address and per credential: the token id of a
``bst_…`` token (whatever secret comes with it), else a digest of the whole key or JWT.
Once either is over its limit, requests that present a credential from that address, or
that credential, are authenticated right here, before routing and FastAPI: a valid one
goes on (and the route reuses what was found), an invalid one gets 429 with
``Retry-After``. So a flood of bad keys is answered for about what ``/health`` costs (a
static key or a JWT is checked in memory, a token with one read by primary key; never a
password hash), and a client with a valid credential behind the same address, a NAT or a
proxy is never refused because someone else failed.
"""

from __future__ import annotations

import hashlib
import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.auth import security
from buildstate.server.auth.principal import authenticate
from buildstate.server.auth.throttle import FailureCounter
from buildstate.server.errors import Unauthorized
from buildstate.server.middleware import StatusWatch, send_json

log = logging.getLogger("buildstate.auth")


class CredentialThrottle:
    """ASGI middleware (see the module). Only requests that present a credential
    (``X-API-Key`` or ``Authorization``) count and are checked: probes without one still
    get their 401. In-process: each worker counts on its own."""

    def __init__(
        self, app: ASGIApp, per_address: int, per_credential: int, window_seconds: float
    ) -> None:
        self.app = app
        self._addresses = FailureCounter(per_address, window_seconds)
        self._credentials = FailureCounter(per_credential, window_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        presented = _presented(scope) if scope["type"] == "http" else None
        if presented is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        # The credential's key (a digest) only once some credential has failed lately.
        credential = _credential_key(presented) if self._credentials else None
        wait = self._wait(address, credential)
        if wait is not None and not await _valid(scope):
            state = scope.setdefault("state", {})
            state["audited"] = True  # logged when the limit is reached, not once per request
            detail = (
                "Too many invalid credentials from this address or for this credential;"
                f" retry in {wait} seconds"
            )
            payload = {"detail": detail, "request_id": state.get("request_id", "-")}
            await send_json(
                send, 429, payload, close=False, headers=[(b"retry-after", b"%d" % wait)]
            )
            return
        watch = StatusWatch(send, default=0)
        await self.app(scope, receive, watch)
        if watch.status == 401:
            credential = credential or _credential_key(presented)
            self._credentials.add(credential)
            if address is not None:
                self._addresses.add(address)
            if self._wait(address, credential) is not None and wait is None:
                log.warning(
                    "checking credentials up front for a while: too many invalid from %s or for %s",
                    address,
                    credential,
                )

    def _wait(self, address: str | None, credential: str | None) -> int | None:
        waits = [] if credential is None else [self._credentials.retry_after(credential)]
        if address is not None:
            waits.append(self._addresses.retry_after(address))
        return max((w for w in waits if w is not None), default=None)


async def _valid(scope: Scope) -> bool:
    """Authenticate now, as the route would (which then reuses the result)."""
    try:
        await authenticate(Request(scope))
    except Unauthorized:
        return False
    return True


def _presented(scope: Scope) -> str | None:
    """The credential :func:`authenticate` will look at, if the request carries one: the
    ``X-API-Key``, else the bearer token, else the whole ``Authorization`` header."""
    api_key: str | None = None
    authorization: str | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    if api_key:
        return api_key
    if authorization is None:
        return None
    scheme, _, bearer = authorization.partition(" ")
    return bearer.strip() if scheme.lower() == "bearer" else authorization


def _credential_key(presented: str) -> str:
    """A token's id (its public part), else a digest: the key never holds a secret."""
    parts = security.split_api_token(presented)
    if parts is not None:
        return f"token:{parts[0]}"
    return f"sha256:{hashlib.sha256(presented.encode()).hexdigest()[:32]}"
