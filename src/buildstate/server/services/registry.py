"""Every background service, in the order they start."""

from __future__ import annotations

from buildstate.server.services.base import LoopService
from buildstate.server.services.purge import IdempotencyPurge

SERVICES: tuple[type[LoopService], ...] = (IdempotencyPurge,)


def services() -> list[tuple[str, str]]:
    """(name, what it does) of each service, for ``bldst services list``."""
    return [(kind.name, kind.description) for kind in SERVICES]
