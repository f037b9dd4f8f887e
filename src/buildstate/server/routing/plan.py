"""A fast route's plan: its endpoint's arguments resolved the way FastAPI resolves them,
compiled once from FastAPI's own description of the route (``dependant``: dependencies in
order, path, query, header and cookie parameters, the JSON body field).

The plan does FastAPI's steps in FastAPI's order with FastAPI's own validators: the body
is read and decoded, the dependencies run (each once per request, as with ``use_cache``),
then parameters and body are validated. Whatever it cannot do plainly (a body that is not
``application/json``, JSON that does not decode, a value that does not validate) raises
:class:`PassOn`: FastAPI's handler then answers, exactly as it always does (the 422 and its
wording are FastAPI's). An exception raised by a dependency is the one FastAPI's handler
would raise too: it runs the same dependencies, in the same order, on the same inputs.
What a plan cannot do at all (a sync or generator dependency, ``BackgroundTasks``, a
``Response`` parameter, an endpoint that returns anything but a ``Response``) is refused
when the plan is compiled, never at a request.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import HTTPException
from fastapi.telemetry import get_telemetry_data


class PassOn(Exception):
    """The plan cannot answer this request plainly: FastAPI's handler will."""


@dataclass(frozen=True, slots=True)
class _Step:
    """One callable (a dependency, or the endpoint) and how to get its arguments."""

    call: Callable[..., Any]
    name: str | None  # the parameter its value is passed as
    cached: bool  # solved once per request, as FastAPI's use_cache
    dependencies: tuple[_Step, ...]
    params: tuple[_Param, ...]
    request_name: str | None
    # Whether the request is its only argument (most dependencies: the credential check,
    # the unit of work): then it is called at once, without resolving anything.
    request_only: bool


@dataclass(frozen=True, slots=True)
class _Param:
    """A path, query, header or cookie parameter: FastAPI's field, and for a single value
    (not a list, not a model), the name it is sent under, to validate it directly."""

    source: str
    field: Any  # FastAPI's ModelField
    name: str | None
    # Absent, it takes this default as it is (None: FastAPI's rules decide).
    absent: tuple[Any] | None

    @classmethod
    def of(cls, source: str, field: Any) -> _Param:
        info = field.field_info
        name = field.alias
        if getattr(info, "convert_underscores", False) and name == field.name:
            name = name.replace("_", "-")  # as FastAPI names a header parameter
        single = _single_value(info.annotation)
        # FastAPI gives an absent optional parameter its default unvalidated; an immutable
        # default needs no copy.
        plain_default = not info.is_required() and not info.validate_default
        immutable = field.default is None or isinstance(field.default, str | int)
        absent = (field.default,) if single and plain_default and immutable else None
        return cls(source, field, name if single else None, absent)

    def resolve(self, request: Request, values: dict[str, Any]) -> None:
        received = _RECEIVED[self.source](request)
        value = None if self.name is None else received.get(self.name)
        if value is None and self.absent is not None:
            values[self.field.name] = self.absent[0]
            return
        if value is None:  # missing, or a list or a model: FastAPI's own function
            found, errors = request_params_to_args([self.field], received)
            values.update(found)
        else:
            loc = (self.source, self.name)
            values[self.field.name], errors = self.field.validate(value, values, loc=loc)
        if errors:
            raise PassOn


def _single_value(annotation: Any) -> bool:
    """Whether a parameter of this type is one string or integer (maybe optional, maybe
    with constraints): not a list, not a model."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    kinds = {
        typing.get_args(m)[0] if typing.get_origin(m) is typing.Annotated else m for m in members
    }
    return kinds - {type(None)} <= {str, int} and bool(kinds - {type(None)})


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


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
    dependencies = tuple(_compile(d, path) for d in dependant.dependencies)
    return _Step(
        call=call,
        name=dependant.name,
        cached=dependant.use_cache,
        dependencies=dependencies,
        params=params,
        request_name=dependant.request_param_name,
        request_only=not (dependencies or params) and dependant.request_param_name is not None,
    )


def compile_plan(dependant: Dependant, path: str) -> Plan:
    """The plan of the route ``dependant`` describes (as included: with its routers'
    dependencies); ``TypeError`` if a plan cannot serve it."""
    if len(dependant.body_params) > 1:
        raise TypeError(f"fast route {path}: one body parameter at most")
    body = dependant.body_params[0] if dependant.body_params else None
    return Plan(_compile(dependant, path, top=True), body)


@dataclass(frozen=True, slots=True)
class Plan:
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
        elif dependency.request_only:
            solved = await dependency.call(**{cast(str, dependency.request_name): request})
            cache.setdefault(dependency.call, solved)
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
