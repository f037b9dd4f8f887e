"""Per-route behaviour through one route class: the operations pipelines and dashboards
send most are answered without FastAPI's general-purpose request handler.

Between routing and the endpoint, FastAPI's handler parses the content type, then solves
the endpoint's dependencies and parameters by walking their description, recursively, on
every request: about as much CPU as a state report's own work on the event loop (figures
in ``bench/RESULTS.md``). A route declared with :func:`fast` is answered by a
:class:`_Plan` compiled once, at start-up, from FastAPI's own description of that route
(``dependant``: its dependencies in order, its path, query and header parameters, its
body field), so there is one definition of each operation and no second list to keep in
step. The plan does the same steps in the same order with FastAPI's own validators; what
it does not handle it refuses when the application is built (:func:`compile_fast_routes`),
never at a request.

Any request the plan cannot answer plainly (a body that is not ``application/json``, JSON
that does not decode, a parameter or body that does not validate) goes to FastAPI's own
handler, which answers exactly as it always does (the 422 and its wording are FastAPI's).
Exceptions raised by a dependency or the endpoint propagate like in FastAPI: the handler
solves dependencies in the same order with the same inputs, so it would raise the same.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import HTTPException
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.telemetry import get_telemetry_data
from starlette.routing import BaseRoute

E = TypeVar("E", bound=Callable[..., Awaitable[Response]])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
FastPlans = dict[int, "_Plan"]  # by id() of the route (routes are not hashable)


class PassOn(Exception):
    """The plan cannot answer this request plainly: FastAPI's handler will."""


def fast(endpoint: E) -> E:
    """Answer this endpoint's requests with a compiled plan (see the module doc). The
    endpoint must be a coroutine returning a ``Response``; its dependencies coroutines
    taking the request and header, query or path parameters."""
    endpoint.__dict__["fast_route"] = True
    return endpoint


class Route(APIRoute):
    """The route class of the application's routers: FastAPI's handler, or for a
    :func:`fast` endpoint the plan :func:`compile_fast_routes` compiled for the app."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        if not getattr(self.endpoint, "fast_route", False):
            return standard

        async def handler(request: Request) -> Response:
            plans: FastPlans = request.app.state.fast_plans
            plan = plans.get(id(self))
            overrides = request.app.dependency_overrides
            if plan is None or (overrides and not plan.calls.isdisjoint(overrides)):
                return await standard(request)
            try:
                call = await plan.solve(request)
            except PassOn:
                return await standard(request)
            return await call

        return handler


def compile_fast_routes(routes: list[BaseRoute]) -> FastPlans:
    """The plan of every :func:`fast` route, as the application includes it (with its
    routers' dependencies), for ``app.state.fast_plans``; a route without a plan there is
    answered by FastAPI's handler. Raises ``TypeError`` for a fast route the plan cannot
    serve, and for one included twice (which of its plans applies would be ambiguous).
    """
    compiled: FastPlans = {}
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not (isinstance(route, Route) and getattr(route.endpoint, "fast_route", False)):
            continue
        if id(route) in compiled:
            raise TypeError(f"fast route {route.path} is included twice")
        if context.body_field is not None and len(context.dependant.body_params) != 1:
            raise TypeError(f"fast route {route.path}: one body parameter at most")
        compiled[id(route)] = _Plan(
            _compile(context.dependant, route.path, top=True),
            context.dependant.body_params[0] if context.body_field is not None else None,
        )
    return compiled


@dataclass(frozen=True, slots=True)
class _Step:
    """One callable (a dependency, or the endpoint) and how to get its arguments."""

    call: Callable[..., Any]
    name: str | None  # the parameter its value is passed as
    cached: bool  # solved once per request, as FastAPI's use_cache
    dependencies: tuple[_Step, ...]
    params: tuple[_Param, ...]
    request_name: str | None


@dataclass(frozen=True, slots=True)
class _Param:
    """A path, query, header or cookie parameter: FastAPI's field, and for a single value
    (not a list, not a model), the name it is sent under, to validate it directly."""

    source: str
    field: Any  # FastAPI's ModelField
    name: str | None

    @classmethod
    def of(cls, source: str, field: Any) -> _Param:
        info = field.field_info
        name = field.alias
        if getattr(info, "convert_underscores", False) and name == field.name:
            name = name.replace("_", "-")  # as FastAPI names a header parameter
        return cls(source, field, name if info.annotation in _SINGLE_VALUES else None)

    def resolve(self, request: Request, values: dict[str, Any]) -> None:
        received = _RECEIVED[self.source](request)
        value = None if self.name is None else received.get(self.name)
        if value is None:  # absent (its default, or missing), or a list or a model
            found, errors = request_params_to_args([self.field], received)
            values.update(found)
        else:
            loc = (self.source, self.name)
            values[self.field.name], errors = self.field.validate(value, values, loc=loc)
        if errors:
            raise PassOn


_SINGLE_VALUES: frozenset[Any] = frozenset({str, int, str | None, int | None})


_PARAM_SOURCES = ("path", "query", "header", "cookie")


def _compile(dependant: Dependant, path: str, *, top: bool = False) -> _Step:
    call = dependant.call
    assert call is not None
    where = f"fast route {path}: {getattr(call, '__qualname__', call)!r}"
    unsupported = [
        name
        for name in (
            "websocket_param_name",
            "http_connection_param_name",
            "response_param_name",
            "background_tasks_param_name",
            "security_scopes_param_name",
        )
        if getattr(dependant, name)
    ]
    if unsupported or (dependant.body_params and not top):
        raise TypeError(f"{where} takes what only FastAPI's handler provides: {unsupported}")
    if not inspect.iscoroutinefunction(call):
        raise TypeError(f"{where} must be a coroutine function (not sync, not a generator)")
    if top and typing.get_type_hints(call).get("return") is not Response:
        raise TypeError(f"{where} must be annotated to return a Response")
    params = tuple(
        _Param.of(source, field)
        for source in _PARAM_SOURCES
        for field in getattr(dependant, f"{source}_params")
    )
    return _Step(
        call=call,
        name=dependant.name,
        cached=dependant.use_cache,
        dependencies=tuple(_compile(d, path) for d in dependant.dependencies),
        params=params,
        request_name=dependant.request_param_name,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    endpoint: _Step
    body: Any  # FastAPI's ModelField of the JSON body, if the endpoint takes one

    @property
    def calls(self) -> frozenset[Callable[..., Any]]:
        """Every dependency's callable (what ``dependency_overrides`` is keyed on)."""
        found: set[Callable[..., Any]] = set()
        steps = list(self.endpoint.dependencies)
        while steps:
            step = steps.pop()
            found.add(step.call)
            steps.extend(step.dependencies)
        return frozenset(found)

    async def solve(self, request: Request) -> Awaitable[Response]:
        """The endpoint's call with every argument resolved (not yet awaited: what raises
        before that is the check, and may pass on). The same order as FastAPI: the body
        is read and decoded, then the dependencies run, then parameters are validated."""
        data = await self._decoded(request) if self.body is not None else None
        values = await _arguments(self.endpoint, request, {})
        if self.body is not None:
            body, errors = self.body.validate(data, values, loc=("body",))
            if errors:
                raise PassOn
            values[self.body.name] = body
        telemetry = get_telemetry_data()
        if telemetry is not None:  # what FastAPI's handler records for log processors
            telemetry.request, telemetry.body, telemetry.values = request, data, values
        result: Awaitable[Response] = self.endpoint.call(**values)
        return result

    @staticmethod
    async def _decoded(request: Request) -> Any:
        try:
            raw = await request.body()
        except HTTPException:
            raise
        except Exception as exc:  # as FastAPI's handler reports a body it could not read
            raise HTTPException(400, "There was an error parsing the body") from exc
        if not raw or request.headers.get("content-type", "").lower() != "application/json":
            raise PassOn  # FastAPI's content-type rules and messages apply
        try:
            # The standard library's decoder, as FastAPI's: orjson differs at the edges
            # (it reads an integer beyond 64 bits as a float, which validators accept).
            return json.loads(raw)
        except Exception:  # invalid, too deep: FastAPI decodes it again and says why
            raise PassOn from None


async def _arguments(step: _Step, request: Request, cache: dict[Any, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for dependency in step.dependencies:
        if dependency.cached and dependency.call in cache:
            solved = cache[dependency.call]
        else:
            solved = await dependency.call(**await _arguments(dependency, request, cache))
            cache.setdefault(dependency.call, solved)
        if dependency.name is not None:
            values[dependency.name] = solved
    for param in step.params:
        param.resolve(request, values)
    if step.request_name is not None:
        values[step.request_name] = request
    return values


_RECEIVED: dict[str, Callable[[Request], Any]] = {
    "path": lambda request: request.path_params,
    "query": lambda request: request.query_params,
    "header": lambda request: request.headers,
    "cookie": lambda request: request.cookies,
}
