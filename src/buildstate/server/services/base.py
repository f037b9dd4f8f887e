"""Background services: work that runs beside the API, in every replica by default
(``BUILDSTATE_SERVICES=true``), or in a process of its own (``bldst services start``)
when the replicas run with ``--no-services``.

A :class:`LoopService` does one round of its work at start, then again every
``interval`` seconds, until it is stopped. A round that fails is logged and tried again
at the next interval: a service never takes the API down with it. Services must be safe
to run in several processes at once (each round is a transaction that reaches the same
end whoever runs it), since every replica may run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import ClassVar

from buildstate.server.db.database import Database
from buildstate.server.settings import Settings

log = logging.getLogger("buildstate.services")


class LoopService(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Whether this service runs under ``settings`` (all do, unless they say)."""
        return True

    @property
    @abstractmethod
    def interval(self) -> float:
        """Seconds between two rounds."""

    @abstractmethod
    async def run_once(self) -> None:
        """One round of the work."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"buildstate-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("%s failed; next try in %.0f s", self.name, self.interval)
            await asyncio.sleep(self.interval)


@asynccontextmanager
async def running(
    kinds: Sequence[type[LoopService]], settings: Settings, db: Database
) -> AsyncIterator[list[LoopService]]:
    """The enabled services of ``kinds``, started; stopped on exit."""
    services = [kind(settings, db) for kind in kinds if kind.enabled(settings)]
    for service in services:
        service.start()
    if services:
        log.info("services running: %s", ", ".join(s.name for s in services))
    try:
        yield services
    finally:
        for service in services:
            await service.stop()
