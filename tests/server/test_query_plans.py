"""Every build-list filter reads an index in the API's order (no table scan, no sort of
the whole match set), checked on SQLite's query planner with statistics loaded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from buildstate.server.builds.repository import BuildFilters, count_query, page_query
from buildstate.server.db.migrate import upgrade_database
from buildstate.server.db.prepared import Prepared
from buildstate.server.settings import Settings

FILTERS = {
    "none": BuildFilters(),
    "project": BuildFilters(project_id="p"),
    "status": BuildFilters(status="failed"),
    "platform": BuildFilters(platform_id="x"),
    "os_version": BuildFilters(os_version_id="x"),
    "image_type": BuildFilters(image_type_id="x"),
    "build_number": BuildFilters(build_number="1"),
    "created_after": BuildFilters(created_after=datetime.now(UTC)),
    "project+status": BuildFilters(project_id="p", status="failed"),
    "platform+status": BuildFilters(platform_id="x", status="failed"),
    "label": BuildFilters(labels=(("cloud", "aws"),)),
}


@pytest.fixture(scope="module")
def planner(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.db"
    upgrade_database(Settings(DATABASE_URL=f"sqlite:///{path}"))
    connection = sqlite3.connect(path)
    connection.execute("ANALYZE")
    return connection


@pytest.mark.parametrize("name", list(FILTERS))
def test_list_filters_use_an_index_in_order(planner: sqlite3.Connection, name: str) -> None:
    # Exactly what the server runs: the page as JSON, within its byte budget.
    plan = _plan(planner, *page_query(FILTERS[name], 0, 100, datetime.now(UTC), "sqlite", 4096))
    assert "USING INDEX" in plan, plan
    assert "SCAN builds" not in plan or "USING INDEX ix_builds_created" in plan, plan
    if name != "label":  # a label match set is sorted; label filters are selective
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("name", [n for n, f in FILTERS.items() if not f.counted])
def test_totals_not_kept_by_counters_are_counted_on_an_index(
    planner: sqlite3.Connection, name: str
) -> None:
    plan = _plan(planner, *count_query(FILTERS[name]))
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "SCAN builds" not in plan or "INDEX" in plan, plan


def _plan(planner: sqlite3.Connection, query: Prepared, values: dict[str, Any]) -> str:
    sql, parameters = query.sql(sqlite.dialect(), values)
    return " | ".join(row[3] for row in planner.execute(f"EXPLAIN QUERY PLAN {sql}", parameters))
