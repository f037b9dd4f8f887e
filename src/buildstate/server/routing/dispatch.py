"""Fast routes: the requests pipelines and dashboards send most, dispatched to a compiled
plan (see :mod:`.plan`) before FastAPI's router, exception middleware and handler.

An endpoint is marked :func:`fast` where it is declared; that is the only declaration.
When the application is built, :func:`compile_fast_routes` reads every route as FastAPI
includes it and, for each fast one, keeps its method, path pattern, parameter convertors
and plan, and the patterns of the routes tried before it. :class:`FastRoutes` (the
innermost middleware) dispatches a request to a plan only when FastAPI's router would
have chosen that route: its pattern matches and no route before it of the same method
does. What the plan cannot answer plainly goes on to the application with the same body
(:class:`_Recorded`); errors raised by a dependency or the endpoint are rendered by the
application's own exception handlers, as Starlette's exception middleware would.
A ``dependency_overrides`` entry for any of a route's dependencies sends its requests to
FastAPI, which applies it.

What the dispatch skips, and why it is worth a second look at the router's rules, is
measured in ``bench/RESULTS.md`` ("Fast routes derived from their routes").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from buildstate.server.routing.plan import PassOn, Plan, compile_plan

E = TypeVar("E", bound=Callable[..., Awaitable[Response]])


def fast(endpoint: E) -> E:
    """Dispatch this endpoint's requests to a compiled plan (see the module doc). The
    endpoint must be a coroutine returning a ``Response``; its dependencies coroutines
    taking the request and header, query or path parameters."""
    endpoint.__dict__["fast_route"] = True
    return endpoint


@dataclass(frozen=True, slots=True)
class _Entry:
    pattern: re.Pattern[str]
    convertors: dict[str, Any]
    before: tuple[re.Pattern[str], ...]  # routes of this method FastAPI tries first
    route: BaseRoute
    endpoint: Callable[..., Any]
    plan: Plan


FastRouteTable = dict[str, tuple[_Entry, ...]]  # by HTTP method


def compile_fast_routes(routes: list[BaseRoute]) -> FastRouteTable:
    """The dispatch table of every :func:`fast` route, in the router's order, for
    ``app.state.fast_routes``. ``TypeError`` for a fast route a plan cannot serve, or
    one whose dispatch cannot be proven to be the router's choice."""
    table: dict[str, list[_Entry]] = {}
    # Per method, the routes tried so far: the literal start of their path, their pattern.
    seen: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for context in iter_route_contexts(routes):
        methods = context.methods or {"*"}
        pattern = getattr(context, "path_regex", None)
        prefix = _literal_prefix(context.path_format) if pattern is not None else ""
        endpoint = context.endpoint
        if endpoint is not None and getattr(endpoint, "fast_route", False):
            if pattern is None or "*" in methods:
                raise TypeError(f"fast route {context.path_format}: needs a path and methods")
            plan = compile_plan(context.dependant, str(context.path_format))
            for method in methods:
                # Only a route whose paths could start like this one's can take its requests.
                before = tuple(
                    earlier
                    for start, earlier in (*seen.get(method, ()), *seen.get("*", ()))
                    if start.startswith(prefix) or prefix.startswith(start)
                )
                entry = _Entry(
                    pattern,
                    context.param_convertors,
                    before,
                    context.original_route,
                    endpoint,
                    plan,
                )
                table.setdefault(method, []).append(entry)
        if pattern is None:  # a route the dispatch cannot see past (e.g. a Mount)
            pattern = re.compile("")
        for method in methods:
            seen.setdefault(method, []).append((prefix, pattern))
    return {method: tuple(entries) for method, entries in table.items()}


def _literal_prefix(path_format: str | None) -> str:
    """What every path a route matches starts with: its template up to the first
    parameter (``/builds/`` for ``/builds/{build_id}``)."""
    return (path_format or "").partition("{")[0]


class FastRoutes:
    """ASGI middleware, innermost: dispatches fast routes' requests to their plans."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            application: FastAPI = scope["app"]
            table: FastRouteTable = application.state.fast_routes
            entries = table.get(scope["method"])
            if entries:
                path = _route_path(scope)
                for entry in entries:
                    if (match := entry.pattern.match(path)) and not any(
                        earlier.match(path) for earlier in entry.before
                    ):
                        overrides = application.dependency_overrides
                        if overrides and not entry.plan.calls.isdisjoint(overrides):
                            break
                        await _serve(entry, match, scope, receive, send, self.app)
                        return
        await self.app(scope, receive, send)


async def _serve(
    entry: _Entry,
    match: re.Match[str],
    scope: Scope,
    receive: Receive,
    send: Send,
    application: ASGIApp,
) -> None:
    scope["path_params"] = {
        name: entry.convertors[name].convert(value) for name, value in match.groupdict().items()
    }
    scope["endpoint"], scope["route"] = entry.endpoint, entry.route  # as the router sets them
    recorded = _Recorded(receive)
    request = Request(scope, recorded)
    try:
        call = await entry.plan.solve(request)
    except PassOn:
        await application(scope, recorded.replay(), send)
        return
    except Exception as exc:
        response = await _rendered(request, exc)
    else:
        try:
            response = await call
        except Exception as exc:
            response = await _rendered(request, exc)
    await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path as the router matches it: without the ``root_path`` it is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


async def _rendered(request: Request, exc: Exception) -> Response:
    """``exc`` as the application's exception handlers render it, looked up as Starlette's
    exception middleware looks them up (by status code, then by class); re-raised if none
    does (the request-context middleware then answers 500 and logs it)."""
    handlers = request.app.exception_handlers
    handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
    for kind in type(exc).__mro__:
        if handler is not None:
            break
        handler = handlers.get(kind)
    if handler is None:
        raise exc
    response: Response = await handler(request, exc)  # all of ours are coroutines
    return response


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
