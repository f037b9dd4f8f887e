"""Running ``Call``s: the blocking and the awaiting loop, and the ``endpoint`` descriptor
that lets each API operation be written once for both clients.

An operation is a method decorated with ``@endpoint`` that only *describes* the call
(returns a ``Call[T]``). Accessed on an object bound to a ``SyncRunner`` it becomes a
function returning ``T``; bound to an ``AsyncRunner`` it returns ``Awaitable[T]``. The
overloads below tell the type checker exactly that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import httpx

from buildstate.client._core import Call, Exchange, Outcome, RetryPolicy, Send, Sleep, exchange

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R", bound="_Runner")


class _Runner:
    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        policy: RetryPolicy,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.policy = policy

    def _exchange(self, call: Call[T]) -> Exchange[T]:
        return exchange(
            call,
            base_url=self.base_url,
            headers=self.headers,
            policy=self.policy,
        )


class SyncRunner(_Runner):
    def __init__(
        self,
        http: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.http = http
        self._sleep = sleep

    def run(self, call: Call[T]) -> T:
        flow = self._exchange(call)
        reply: Outcome | None = None
        try:
            while True:
                step = flow.send(reply)
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    reply = None
                else:
                    reply = self._send(step)
        except StopIteration as done:
            return cast(T, done.value)

    def _send(self, step: Send) -> Outcome:
        try:
            return self.http.request(**step.kwargs)
        except httpx.TransportError as exc:
            return exc


class AsyncRunner(_Runner):
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.http = http
        self._sleep = sleep

    async def run(self, call: Call[T]) -> T:
        flow = self._exchange(call)
        reply: Outcome | None = None
        try:
            while True:
                step = flow.send(reply)
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    reply = None
                else:
                    reply = await self._send(step)
        except StopIteration as done:
            return cast(T, done.value)

    async def _send(self, step: Send) -> Outcome:
        try:
            return await self.http.request(**step.kwargs)
        except httpx.TransportError as exc:
            return exc


class Bound(Generic[R]):
    """An API namespace bound to the runner that executes its calls."""

    def __init__(self, runner: R) -> None:
        self._runner: R = runner


class endpoint(Generic[P, T]):
    def __init__(self, describe: Callable[Concatenate[Any, P], Call[T]]) -> None:
        self._describe = describe
        self.__doc__ = describe.__doc__
        self.__name__ = describe.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> endpoint[P, T]: ...
    @overload
    def __get__(self, obj: Bound[SyncRunner], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Bound[AsyncRunner], owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Bound[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        describe, run = self._describe, obj._runner.run

        def operation(*args: P.args, **kwargs: P.kwargs) -> Any:
            return run(describe(obj, *args, **kwargs))

        operation.__doc__ = self.__doc__
        operation.__name__ = self.__name__
        return operation


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    """One credential: a JWT when given (it is what an interactive login produced), else the
    API key."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {"X-API-Key": api_key} if api_key else {}


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """A request body without the fields the caller left unset (server defaults apply)."""
    return {key: value for key, value in values.items() if value is not None}
