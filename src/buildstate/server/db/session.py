"""The request-scoped session: one transaction per request, committed once.

The dependency uses FastAPI's ``scope="function"`` so that the commit happens before the
response is sent: a client never sees a 2xx for a write that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from buildstate.server.audit.recorder import add_to_transaction, mark_recorded
from buildstate.server.db.engine import Database

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db = get_database(request)
    factory = db.read_sessions if request.method in _READ_METHODS else db.write_sessions
    async with factory() as session:
        try:
            yield session
            recorded = add_to_transaction(request, session)
            await session.commit()
            if recorded:
                mark_recorded(request)
        except BaseException:
            await session.rollback()
            raise


async def _read_only_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A reader for a POST that writes nothing itself (a login): on SQLite it must not
    hold the single writer connection while a password hash is checked. The audit
    middleware records the request afterwards."""
    async with get_database(request).read_sessions() as session:
        try:
            yield session
        finally:
            await session.rollback()  # ends the read transaction; nothing was written


def dialect_of(session: AsyncSession) -> str:
    """``"sqlite"`` or ``"postgresql"``: for the few statements that differ."""
    return session.get_bind().dialect.name


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
ReadOnlySessionDep = Annotated[AsyncSession, Depends(_read_only_session, scope="function")]
