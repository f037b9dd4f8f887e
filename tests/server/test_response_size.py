"""Lists of builds have a size bound (issue 16.4), checked on a real server process: a
page stops at its byte budget and says where to continue, whatever the builds weigh,
those the API accepts today as well as those stored before their metadata was bounded."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import create_engine, update

from buildstate.server.builds.models import Build
from buildstate.server.db.database import driver_url
from buildstate.server.settings import Settings
from tests.conftest import ADMIN

# As documented (README, docs/api-additions.md).
PAGE_BYTES = 4 * 1024 * 1024
PLATFORM_RECENT_BYTES = 512 * 1024
METADATA_BYTES = 16 * 1024
HEAVY = 180  # builds with the most labels and metadata accepted: ~4.6 MB as a list
LEGACY = 6  # builds with ~1 MB of metadata each, stored before the limit
LEGACY_METADATA = {"log": "x" * 1_000_000}


def _heaviest(project: str, number: int) -> dict[str, Any]:
    labels = {f"label-{i:02d}": "v" * 113 for i in range(64)}  # 8 KiB as compact JSON
    metadata = {"blob": "x" * (METADATA_BYTES - len('{"blob":""}'))}
    return {
        "project_id": project,
        "platform_id": "aws-commercial",
        "os_version_id": "rhel-9.3",
        "image_type_id": "base",
        "build_number": f"heavy-{number}",
        "labels": labels,
        "build_metadata": metadata,
    }


def _all_pages(http: httpx.Client, path: str, limit: int) -> tuple[list[str], list[int]]:
    """Every build ``path`` lists, following ``X-Next-Skip``; and each page's bytes."""
    ids: list[str] = []
    sizes: list[int] = []
    skip = 0
    while True:
        response = http.get(path, params={"limit": limit, "skip": skip})
        assert response.status_code == 200, response.text
        page = response.json()
        assert page, "a page cut short always lists at least one build"
        ids += [b["id"] for b in page]
        sizes.append(len(response.content))
        if "X-Next-Skip" not in response.headers:
            return ids, sizes
        skip = int(response.headers["X-Next-Skip"])
        assert skip == len(ids)


def test_lists_of_heavy_builds_stay_within_their_byte_budget(
    server_process: str, settings: Settings
) -> None:
    with httpx.Client(base_url=server_process, headers=ADMIN, timeout=60) as http:
        project = http.post("/projects/", json={"name": "heavy"}).json()["id"]
        for i in range(HEAVY):
            response = http.post("/builds", json=_heaviest(project, i))
            assert response.status_code == 201, response.text
        legacy = []
        for i in range(LEGACY):
            body = {**_heaviest(project, i), "build_number": f"legacy-{i}"}
            legacy.append(http.post("/builds", json=body).json()["id"])
        engine = create_engine(driver_url(settings.database_url))
        try:
            with engine.begin() as connection:
                stored = update(Build).where(Build.id.in_(legacy))
                connection.execute(stored.values(build_metadata=LEGACY_METADATA))
        finally:
            engine.dispose()

        first = http.get("/builds", params={"limit": 1000})
        assert len(first.content) <= PAGE_BYTES
        listed, sizes = _all_pages(http, "/builds", 1000)
        assert len(listed) == len(set(listed)) == HEAVY + LEGACY
        assert int(first.headers["X-Total-Count"]) == HEAVY + LEGACY
        assert listed[:LEGACY] == legacy[::-1]  # newest first, the legacy ones
        assert max(sizes) <= PAGE_BYTES
        assert len(sizes) == 3  # ~3 legacy builds, ~3 more and ~40 heavy, the rest

        recent = http.get("/dashboard/recent", params={"limit": 100})
        assert recent.status_code == 200
        assert len(recent.content) <= PAGE_BYTES
        shown = [b["id"] for b in recent.json()]
        assert shown == listed[: len(shown)]
        assert recent.headers["X-Next-Skip"] == str(len(shown))

        platform = http.get("/dashboard/platform/aws-commercial")
        assert platform.status_code == 200
        # The latest build is a legacy one, heavier than the budget alone: it is shown,
        # and nothing more.
        assert [b["id"] for b in platform.json()["recent_builds"]] == listed[:1]
        assert len(platform.content) < len(LEGACY_METADATA["log"]) + PLATFORM_RECENT_BYTES // 16
