"""Dashboard numbers. Counts come from the per-(platform, status) counters that the
builds service keeps in step, so they cost the same at ten builds or a million."""

from __future__ import annotations

import math

import orjson
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from buildstate.server.builds import views
from buildstate.server.builds.repository import BuildFilters, BuildRepository
from buildstate.server.builds.schemas import Build
from buildstate.server.catalog.crud import CatalogRepository, CatalogService
from buildstate.server.catalog.resources import PLATFORMS
from buildstate.server.dashboard.repository import DashboardRepository
from buildstate.server.db.types import utcnow

DURATION_SAMPLE = 1000
RECENT = 10  # a platform's latest builds in its statistics
# Their bytes at most (unless the first alone weighs more): ten builds at the largest
# labels and metadata accepted (see validation.py).
RECENT_BYTES = 512 * 1024


class Summary(BaseModel):
    total_builds: int
    active_builds: int = Field(description="Pending and in progress.")
    completed_builds: int
    failed_builds: int
    cancelled_builds: int
    pending_builds: int
    platforms: int = Field(description="Active platforms.")
    projects: int = Field(description="Active projects.")


class PlatformStats(BaseModel):
    platform_id: str
    total_builds: int
    by_status: dict[str, int]
    success_rate: float | None = Field(description="completed / (completed + failed), 0–1.")
    mean_duration_seconds: float | None = Field(
        description=f"Over the latest {DURATION_SAMPLE} completed builds."
    )
    p95_duration_seconds: float | None
    recent_builds: list[Build] = Field(
        description=f"The latest {RECENT}, newest first; fewer if they weigh more than "
        f"{RECENT_BYTES // 1024} KiB."
    )


class DashboardService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.builds = BuildRepository(session)
        self.repo = DashboardRepository(session)

    def summary(self) -> Summary:
        counts = self.builds.counts()
        return Summary(
            total_builds=sum(counts.values()),
            active_builds=counts.get("pending", 0) + counts.get("in_progress", 0),
            completed_builds=counts.get("completed", 0),
            failed_builds=counts.get("failed", 0),
            cancelled_builds=counts.get("cancelled", 0),
            pending_builds=counts.get("pending", 0),
            **self.repo.active_catalog(),
        )

    def recent(self, limit: int) -> views.Page:
        """The latest builds, as ``GET /builds`` pages them (within its byte budget)."""
        return self.builds.search_json(BuildFilters(), 0, limit, utcnow())

    def platform(self, platform_id: str) -> PlatformStats:
        CatalogService(CatalogRepository(PLATFORMS, self.session)).get(platform_id)
        counts = self.builds.counts(platform_id)
        done = counts.get("completed", 0) + counts.get("failed", 0)
        durations = sorted(self.builds.finished_durations(platform_id, DURATION_SAMPLE))
        latest = BuildFilters(platform_id=platform_id)
        recent = self.builds.search_json(latest, 0, RECENT, utcnow(), RECENT_BYTES)
        return PlatformStats(
            platform_id=platform_id,
            total_builds=sum(counts.values()),
            by_status=counts,
            success_rate=round(counts.get("completed", 0) / done, 4) if done else None,
            mean_duration_seconds=round(sum(durations) / len(durations), 3) if durations else None,
            p95_duration_seconds=_percentile(durations, 0.95),
            recent_builds=orjson.loads(recent.body),
        )


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return round(ordered[index], 3)
