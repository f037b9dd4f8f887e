"""The requests pipelines and dashboards send most, answered without FastAPI's routing.

Before and after an endpoint runs, FastAPI tries the request against the routes in turn,
solves every dependency (the credential, the unit of work, the idempotency key, each
parameter) and validates the body. Measured in process, that is most of what these
requests cost the event loop: one build by id 0.36 ms (0.23 ms without it), the
dashboard summary 0.67 ms (0.19), a state report 0.77 ms (0.25; its write on the writer
thread, 0.7 ms, is the same either way). :class:`HotPaths` sits just in front of the
application and answers the plain case of a few operations itself: an id of plain
characters, a credential with the scope, a JSON body that validates. It works in two
steps. The check (read the body, decode it, authenticate, validate) changes nothing: if
anything in it fails or is unusual, the request goes on to the application with the same
body messages (and the same failure), and the application answers it exactly as it would
have. The run (the read, or the write through the route's endpoint) is never repeated:
its errors (not found, a refused transition, a busy database) are rendered by the
application's own exception handlers.

The FastAPI route stays the definition of the operation: its OpenAPI entry, its
validation and its errors come from there, and a hot write calls the route's endpoint
function. ``tests/server/test_hotpaths.py`` sends every kind of request to an application
with and without the hot paths and checks that both answer the same bytes. What the layer
does not know of: ``dependency_overrides``, dependencies added to a router or the app, and
FastAPI's OpenTelemetry spans (``create_app`` leaves the layer out when those are on).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from buildstate.server.auth.principal import Principal, require
from buildstate.server.auth.principal import Scope as CredentialScope
from buildstate.server.db.database import Database

# A path parameter the hot path takes as it is: characters that need no decoding and that
# every id parameter accepts (anything else goes to the application, which validates it).
_PLAIN_ID = "[A-Za-z0-9._~-]{1,200}"
_PARAMETER = re.compile(r"\{(\w+)\}")


class PassOn(Exception):
    """Raised in the check step of a hot operation: let the application answer."""


@dataclass(frozen=True)
class HotRead:
    """``GET path`` (a route's template, e.g. ``/builds/{build_id}``) answered with the JSON
    that ``read(session, **path_parameters)`` returns, for a credential with ``scope``."""

    method: ClassVar[str] = "GET"
    path: str
    scope: CredentialScope
    read: Callable[..., bytes]

    def bind(
        self, request: Request, principal: Principal, data: Any, parameters: dict[str, str]
    ) -> Awaitable[Response]:
        return self._run(request, parameters)

    async def _run(self, request: Request, parameters: dict[str, str]) -> Response:
        db: Database = request.app.state.db
        found = await db.lookup(lambda session: self.read(session, **parameters))
        return Response(found, media_type="application/json")


@dataclass(frozen=True)
class HotWrite:
    """``POST path`` with a JSON ``body``, for a credential with ``scope``, answered by
    awaiting ``write(request, principal, body, **path_parameters)``: a call of the route's
    endpoint with what FastAPI would have resolved for it. The call itself is part of the
    check (resolving its arguments may raise :class:`PassOn`); awaiting it is the run."""

    method: ClassVar[str] = "POST"
    path: str
    scope: CredentialScope
    body: type[BaseModel]
    write: Callable[..., Awaitable[Response]]

    def bind(
        self, request: Request, principal: Principal, data: Any, parameters: dict[str, str]
    ) -> Awaitable[Response]:
        model = self.body.model_validate(data)  # as FastAPI validates a decoded body
        return self.write(request, principal, model, **parameters)


HotOperation = HotRead | HotWrite


@dataclass
class _Operation:
    pattern: re.Pattern[str]
    check: Callable[[Request], Awaitable[Principal]]
    spec: HotOperation
    route: Any = None  # the application's route for it, found at start-up


class HotPaths:
    """ASGI middleware: answers the hot requests it can, passes on the rest."""

    def __init__(self, app: ASGIApp, operations: Iterable[HotOperation]) -> None:
        self.app = app
        self._operations = [
            _Operation(
                re.compile(_PARAMETER.sub(rf"(?P<\1>{_PLAIN_ID})", spec.path)),
                require(spec.scope),
                spec,
            )
            for spec in operations
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._find_routes(scope["app"].routes)
        elif scope["type"] == "http":
            path = get_route_path(scope)  # the path as Starlette's router matches it
            for operation in self._operations:
                if operation.spec.method == scope["method"] and (
                    match := operation.pattern.fullmatch(path)
                ):
                    await self._serve(operation, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _find_routes(self, routes: list[Any]) -> None:
        found = {
            (method, context.path_format): context.original_route
            for context in iter_route_contexts(routes)
            for method in context.methods or ()
        }
        for operation in self._operations:
            key = (operation.spec.method, operation.spec.path)
            if key not in found:
                raise LookupError(f"hot path {' '.join(key)} has no route in the application")
            operation.route = found[key]

    async def _serve(
        self,
        operation: _Operation,
        parameters: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        recorded = _Recorded(receive)
        request = Request(scope, recorded)
        try:  # the check: nothing has changed yet, so the application can answer instead
            data = None
            if isinstance(operation.spec, HotWrite):
                # Before the credential, as FastAPI decodes the body before its dependencies.
                data = _decoded(request, await request.body())
            principal = await operation.check(request)
            run = operation.spec.bind(request, principal, data, parameters)
        except Exception:
            await self.app(scope, recorded.replay(), send)
            return
        scope["route"] = operation.route  # as the router sets it (the audit record names it)
        try:  # the run
            response = await run
        except Exception as exc:
            response = await _rendered(request, exc)
        await response(scope, receive, send)


class _Recorded:
    """``receive`` that remembers what it gave (a message or a failure), so that the
    application can be given the same again."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._given: list[Message] = []
        self._failure: Exception | None = None

    async def __call__(self) -> Message:
        try:
            message = await self._receive()
        except Exception as exc:  # e.g. a body over the limit
            self._failure = exc
            raise
        self._given.append(message)
        return message

    def replay(self) -> Receive:
        given, failure = list(self._given), self._failure

        async def receive() -> Message:
            if given:
                return given.pop(0)
            if failure is not None:
                raise failure
            return await self._receive()

        return receive


def _decoded(request: Request, body: bytes) -> Any:
    """A plain JSON body, decoded. PassOn for another content type (which the application
    decodes its own way); invalid JSON raises, as in FastAPI."""
    if request.headers.get("content-type", "").lower() != "application/json":
        raise PassOn
    # The standard library's decoder, as FastAPI's: orjson differs at the edges (it reads
    # an integer beyond 64 bits as a float, which the validators would then accept).
    return json.loads(body)


async def _rendered(request: Request, exc: Exception) -> Response:
    """``exc`` as the application's exception handlers render it (all of ours are
    coroutines); re-raised if none does (the request-context middleware then answers 500
    and logs it)."""
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        if (handler := handlers.get(kind)) is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc
