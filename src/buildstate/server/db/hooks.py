"""What every write owes besides its own rows, in one place: commit hooks.

A write (:meth:`buildstate.server.db.session.Work.write`) runs its service method, then
each hook registered ``in_transaction``, in the write's own transaction: the audit
record today, a build's event and its webhook deliveries next. If the service or a hook
raises, or the commit fails, the whole write rolls back, rows of the hooks included.
Once it has committed, each ``after_commit`` hook runs on the event loop (marking the
request audited today; publishing to the event bus and metrics next), before the client
gets its answer. A write that rolled back runs none of them: nothing is published for a
change that did not happen, and an acknowledged write always has its rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.types import Scope

log = logging.getLogger("buildstate.db")


@dataclass(slots=True)
class Change:
    """One write as its hooks see it: the request that made it and what it returned."""

    scope: Scope  # the request's ASGI scope: method, route, state (principal, request id)
    result: Any = None


InTransaction = Callable[[Session, Change], None]
AfterCommit = Callable[[Change], None]


@dataclass
class CommitHooks:
    in_transaction: list[InTransaction] = field(default_factory=list)
    after_commit: list[AfterCommit] = field(default_factory=list)

    def before_commit(self, session: Session, change: Change) -> None:
        """Run on the database thread, in the write's transaction; an exception rolls the
        write back."""
        for hook in self.in_transaction:
            hook(session, change)

    def committed(self, change: Change) -> None:
        """Run once the write is durable. A failing hook is logged, never raised: the
        write has happened, and its client must hear so."""
        for hook in self.after_commit:
            try:
                hook(change)
            except Exception:
                log.exception("after-commit hook %r failed", hook)
