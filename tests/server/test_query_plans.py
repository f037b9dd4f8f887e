"""Every build-list filter reads an index in the API's order (no table scan, no sort of
the whole match set), checked on SQLite's query planner with statistics loaded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from buildstate.server.builds.repository import BuildFilters, page_query
from buildstate.server.db.migrate import upgrade_database
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
    query, values = page_query(FILTERS[name], 0, 100)
    sql, parameters = query.sql(sqlite.dialect(), values)  # exactly what the server runs
    plan = " | ".join(row[3] for row in planner.execute(f"EXPLAIN QUERY PLAN {sql}", parameters))
    assert "USING INDEX" in plan, plan
    assert "SCAN builds" not in plan or "USING INDEX ix_builds_created" in plan, plan
    if name != "label":  # a label match set is sorted; label filters are selective by design
        assert "TEMP B-TREE" not in plan, plan
