"""Every query on project state codes."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from buildstate.server.projects.models import StateCodeDefinition

_CODE = re.compile(r"[0-9]{1,3}")  # ASCII digits only: "²".isdigit() is true


class StateCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_project(self, project_id: str) -> list[StateCodeDefinition]:
        query = (
            select(StateCodeDefinition)
            .where(StateCodeDefinition.project_id == project_id)
            .order_by(StateCodeDefinition.state_code)
        )
        return list((await self.session.scalars(query)).all())

    async def get(self, project_id: str, ref: str) -> StateCodeDefinition | None:
        """By id, or by the code itself (``/state-codes/25``)."""
        match = (
            StateCodeDefinition.state_code == int(ref)
            if _CODE.fullmatch(ref)
            else StateCodeDefinition.id == ref
        )
        query = select(StateCodeDefinition).where(
            StateCodeDefinition.project_id == project_id, match
        )
        return (await self.session.scalars(query)).first()

    async def by_code(self, project_id: str, code: int) -> StateCodeDefinition | None:
        query = select(StateCodeDefinition).where(
            StateCodeDefinition.project_id == project_id, StateCodeDefinition.state_code == code
        )
        return (await self.session.scalars(query)).first()

    async def add(self, row: StateCodeDefinition) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete(self, row: StateCodeDefinition) -> None:
        await self.session.execute(
            delete(StateCodeDefinition).where(StateCodeDefinition.id == row.id)
        )
