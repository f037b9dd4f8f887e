"""``Idempotency-Key``: the same key and body replay the first response and write nothing.

The key is claimed (inserted) before the write runs, in the write's own transaction, so
two concurrent requests with one key cannot both write: the second waits on the key's
unique index and then replays what the first committed. A failed write rolls its claim
back with everything else, so errors are never replayed; the retry simply runs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from buildstate.server.auth.principal import Principal, authenticate, guard
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Conflict, Unprocessable
from buildstate.server.http import json_response
from buildstate.server.idempotency.models import IdempotencyRecord
from buildstate.server.validation import STORABLE

KEY_LENGTH = (1, 255)
KeyHeader = Annotated[
    Annotated[str, STORABLE] | None,
    Header(
        alias="Idempotency-Key",
        min_length=KEY_LENGTH[0],
        max_length=KEY_LENGTH[1],
        description="Makes a retried write safe: the same key and body replay the first "
        "response (kept at least 24 hours).",
    ),
]


class Idempotency:
    """One request's key (or none); :meth:`run` runs inside the write's unit of work."""

    def __init__(self, principal: Principal, key: str | None, request: Request) -> None:
        self.owner = principal.user_id or principal.credential_id
        self.key = key
        self.method = request.method
        # Only a keyed write stores it: building the URL costs more than this whole object.
        self.path = request.url.path if key is not None else ""

    def run(
        self,
        session: Session,
        status_code: int,
        body: BaseModel | None,
        write: Callable[[], BaseModel],
    ) -> Response:
        if self.key is None:
            return json_response(write().model_dump_json(), status_code)
        digest = self._digest(body)
        if replay := self._replay(session, digest):
            return replay
        claim = IdempotencyRecord(
            principal=self.owner,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=digest,
            status_code=0,
            response_body=b"",
        )
        try:
            with session.begin_nested():  # a failed claim must not undo the whole unit
                session.add(claim)
        except IntegrityError:  # a concurrent request with this key committed first
            if replay := self._replay(session, digest):
                return replay
            raise Conflict("a request with this Idempotency-Key is in progress; retry") from None
        payload = write().model_dump_json().encode()
        claim.status_code, claim.response_body = status_code, payload
        session.flush()
        return json_response(payload, status_code)

    def _digest(self, body: BaseModel | None) -> str:
        canonical = body.model_dump_json() if body is not None else ""
        return hashlib.sha256(f"{self.method} {self.path}\n{canonical}".encode()).hexdigest()

    def _replay(self, session: Session, digest: str) -> Response | None:
        query = select(IdempotencyRecord).where(
            IdempotencyRecord.principal == self.owner, IdempotencyRecord.key == self.key
        )
        record = session.scalars(query).first()
        if record is None:
            return None
        if record.request_hash != digest:
            raise Unprocessable(
                f"Idempotency-Key {self.key!r} was already used for a different request "
                f"({record.method} {record.path} with another body); use a new key"
            )
        response = json_response(record.response_body, record.status_code)
        response.headers["Idempotent-Replayed"] = "true"
        return response


@guard
async def _idempotency(request: Request, key: KeyHeader = None) -> Idempotency:
    # The caller, as the scope check found it (not a sub-dependency: see authenticate).
    return Idempotency(await authenticate(request), key, request)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]


KEY_LIFETIME = timedelta(hours=24)


def purge_expired(session: Session) -> int:
    """Forget keys older than :data:`KEY_LIFETIME` (in the caller's transaction); returns
    how many (an indexed delete; see :mod:`buildstate.server.services.purge`)."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEY_LIFETIME)
    )
    return int(getattr(result, "rowcount", 0) or 0)
