"""Every query on project state codes."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from buildstate.server.projects.models import StateCodeDefinition

_CODE = re.compile(r"[0-9]{1,3}")  # ASCII digits only: "²".isdigit() is true


class StateCodeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_project(self, project_id: str) -> list[StateCodeDefinition]:
        query = (
            select(StateCodeDefinition)
            .where(StateCodeDefinition.project_id == project_id)
            .order_by(StateCodeDefinition.state_code)
        )
        return list((self.session.scalars(query)).all())

    def get(self, project_id: str, ref: str) -> StateCodeDefinition | None:
        """By id, or by the code itself (``/state-codes/25``)."""
        match = (
            StateCodeDefinition.state_code == int(ref)
            if _CODE.fullmatch(ref)
            else StateCodeDefinition.id == ref
        )
        query = select(StateCodeDefinition).where(
            StateCodeDefinition.project_id == project_id, match
        )
        return (self.session.scalars(query)).first()

    def by_code(self, project_id: str, code: int) -> StateCodeDefinition | None:
        query = select(StateCodeDefinition).where(
            StateCodeDefinition.project_id == project_id, StateCodeDefinition.state_code == code
        )
        return (self.session.scalars(query)).first()

    def add(self, row: StateCodeDefinition) -> None:
        self.session.add(row)
        self.session.flush()

    def delete(self, row: StateCodeDefinition) -> None:
        self.session.execute(delete(StateCodeDefinition).where(StateCodeDefinition.id == row.id))
