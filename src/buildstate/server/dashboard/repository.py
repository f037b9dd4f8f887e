"""The dashboard's own query: how many catalog entries are active."""

from __future__ import annotations

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from buildstate.server.catalog.crud import CatalogSpec
from buildstate.server.catalog.resources import PLATFORMS, PROJECTS
from buildstate.server.db.prepared import Prepared


def _active(spec: CatalogSpec) -> ScalarSelect[int]:
    table = spec.model.__table__
    return select(func.count()).where(table.c.deactivated_at.is_(None)).scalar_subquery()


_ACTIVE_CATALOG = Prepared(
    select(_active(PLATFORMS).label("platforms"), _active(PROJECTS).label("projects"))
)


class DashboardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def active_catalog(self) -> dict[str, int]:
        """Active platforms and projects: ``{"platforms": n, "projects": m}``."""
        counts: dict[str, int] = _ACTIVE_CATALOG.first(self.session, {})._asdict()
        return counts
