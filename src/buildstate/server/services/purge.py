"""Forgets idempotency keys past their lifetime."""

from __future__ import annotations

import logging

from buildstate.server.idempotency.service import KEY_LIFETIME, purge_expired
from buildstate.server.services.base import LoopService

log = logging.getLogger("buildstate.services")
INTERVAL = 600.0  # seconds


class IdempotencyPurge(LoopService):
    name = "idempotency-purge"
    description = (
        f"forgets Idempotency-Keys older than {KEY_LIFETIME.total_seconds() / 3600:.0f} hours, "
        f"every {INTERVAL / 60:.0f} minutes"
    )

    @property
    def interval(self) -> float:
        return INTERVAL

    async def run_once(self) -> None:
        if purged := await self.db.write(purge_expired):
            log.info("forgot %d expired idempotency keys", purged)
