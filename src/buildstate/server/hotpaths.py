"""The reads that pipelines and dashboards poll most, answered without FastAPI's routing.

Before and after an endpoint runs, FastAPI tries the request against the routes in turn,
solves each dependency (the credential, the unit of work, every parameter) and builds a
response: about 0.3 ms a request, measured, which for one build by id or the dashboard
summary is more than the read itself. :class:`HotReads` sits just in front of the
application and answers such a read itself when it is the plain case: ``GET``, an id of
plain characters, a credential with the scope, a read that succeeds. Every other request
(no or a bad credential, a missing build, an unusual id, any error) goes on to the
application, which answers it exactly as it would have, repeating the read.

The FastAPI route stays the definition of the operation: its OpenAPI entry, its
validation and all of its errors come from there. A :class:`HotRead` only repeats its
successful answer, and ``tests/server/test_hotpaths.py`` checks that both give the same
bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from buildstate.server.auth.principal import Scope as CredentialScope
from buildstate.server.auth.principal import require
from buildstate.server.db.engine import Database

# A path parameter the hot path takes as it is: characters that need no decoding and that
# every id parameter accepts (anything else goes to the application, which validates it).
_PLAIN_ID = "[A-Za-z0-9._~-]{1,200}"
_PARAMETER = re.compile(r"\{(\w+)\}")
_JSON_HEADERS = (b"content-type", b"application/json")


@dataclass(frozen=True)
class HotRead:
    """``GET path`` (a route's template, e.g. ``/builds/{build_id}``) answered with the JSON
    that ``read(session, **path_parameters)`` returns, for a credential with ``scope``."""

    path: str
    scope: CredentialScope
    read: Callable[..., bytes]


class _Compiled:
    def __init__(self, hot: HotRead) -> None:
        self.pattern = re.compile(_PARAMETER.sub(rf"(?P<\1>{_PLAIN_ID})", hot.path))
        self.check = require(hot.scope)
        self.read = hot.read


class HotReads:
    """ASGI middleware: answers the :class:`HotRead` requests it can, passes on the rest."""

    def __init__(self, app: ASGIApp, reads: Iterable[HotRead]) -> None:
        self.app = app
        self._reads = [_Compiled(hot) for hot in reads]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = None
        if scope["type"] == "http" and scope["method"] == "GET":
            path = get_route_path(scope)
            for hot in self._reads:
                if match := hot.pattern.fullmatch(path):
                    body = await self._answer(hot, match.groupdict(), Request(scope, receive))
                    break
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _answer(hot: _Compiled, parameters: dict[str, str], request: Request) -> bytes | None:
        """The JSON to answer with, or None for the application to answer instead."""
        try:
            await hot.check(request)
            db: Database = request.app.state.db
            return await db.lookup(lambda session: hot.read(session, **parameters))
        except Exception:
            # Refused, not found, or failed: the application answers, renders and logs it.
            return None
