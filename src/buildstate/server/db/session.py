"""A request's access to the database: ``Work[Service]``, one unit of work per call.

Endpoints hand a service method and its arguments to :meth:`Work.read` or
:meth:`Work.write`; the method runs synchronously on a database thread with a service
built over that unit's session (see :mod:`buildstate.server.db.database`). A write runs the
application's commit hooks (:mod:`buildstate.server.db.hooks`: the audit record and the
like) in its transaction, and returns only once it has committed and the after-commit
hooks have run, so a client never sees a 2xx for a write that is not durable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Concatenate, Generic, ParamSpec, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from buildstate.server.db.hooks import Change
from buildstate.server.db.prepared import driver_of
from buildstate.server.state import state_of

if TYPE_CHECKING:
    from buildstate.server.idempotency.service import Idempotency

S = TypeVar("S")
T = TypeVar("T")
P = ParamSpec("P")


class Work(Generic[S]):
    def __init__(self, request: Request, make: Callable[[Session], S]) -> None:
        self.request = request
        state = state_of(request.app)
        self.db = state.db
        self.hooks = state.hooks
        self.make = make

    async def read(self, fn: Callable[Concatenate[S, P], T], *args: P.args, **kw: P.kwargs) -> T:
        make = self.make
        return await self.db.read(lambda session: fn(make(session), *args, **kw))

    async def lookup(self, fn: Callable[Concatenate[S, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """:meth:`read` for a read of bounded cost (see :meth:`Database.lookup`)."""
        make = self.make
        return await self.db.lookup(lambda session: fn(make(session), *args, **kw))

    async def write(self, fn: Callable[Concatenate[S, P], T], *args: P.args, **kw: P.kwargs) -> T:
        make = self.make
        return await self._write(lambda session: fn(make(session), *args, **kw))

    async def write_once(
        self,
        key: Idempotency,
        status_code: int,
        body: BaseModel | None,
        fn: Callable[Concatenate[S, P], BaseModel],
        *args: P.args,
        **kw: P.kwargs,
    ) -> Response:
        """A write that an ``Idempotency-Key`` makes safe to retry (see
        :mod:`buildstate.server.idempotency.service`); the JSON response."""
        make = self.make
        return await self._write(
            lambda session: key.run(
                session, status_code, body, lambda: fn(make(session), *args, **kw)
            )
        )

    async def _write(self, fn: Callable[[Session], T]) -> T:
        change, hooks = Change(self.request.scope), self.hooks

        def unit(session: Session) -> T:
            result = change.result = fn(session)
            hooks.before_commit(session, change)
            return result

        result = await self.db.write(unit)
        hooks.committed(change)
        return result


def work(make: Callable[[Session], S]) -> Callable[[Request], Awaitable[Work[S]]]:
    """The dependency that gives an endpoint ``Work`` over services made by ``make``."""

    async def dependency(request: Request) -> Work[S]:  # async: no thread hop
        return Work(request, make)

    return dependency


def dialect_of(session: Session) -> str:
    """``"sqlite"`` or ``"postgresql"``: for the few statements that differ (read from the
    unit's connection, which the hot paths have looked up already)."""
    return driver_of(session).dialect.name
