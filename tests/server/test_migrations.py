"""Migrations build the schema the models describe, and bring old data along."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from buildstate.server.db.base import Base
from buildstate.server.db.database import driver_url
from buildstate.server.db.migrate import alembic_config, upgrade_database
from buildstate.server.settings import Settings

BUILD = (
    "INSERT INTO builds (id, project_id, platform_id, os_version_id, image_type_id, "
    "build_number, status, current_state, attempt, labels, build_metadata, created_at, "
    "updated_at) VALUES (?, ?, 'x', 'o', 'i', ?, ?, 0, 1, '{}', '{}', "
    "'2026-11-22 06:00:00.000000', '2026-11-22 06:00:00.000000')"
)


def test_the_migrated_schema_is_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_database(Settings(DATABASE_URL=url))
    engine = create_engine(driver_url(url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_0004_counts_the_builds_already_there(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    settings = Settings(DATABASE_URL=f"sqlite:///{path}")
    upgrade_database(settings, "0003")
    with sqlite3.connect(path) as connection:  # foreign keys off: no catalog needed
        builds = [
            ("a", "p1", "1", "failed"),
            ("b", "p1", "2", "failed"),
            ("c", "p2", "3", "pending"),
        ]
        connection.executemany(BUILD, builds)
    upgrade_database(settings, "0004")
    with sqlite3.connect(path) as connection:
        counters = connection.execute(
            "SELECT project_id, status, count FROM build_project_counters ORDER BY 1, 2"
        ).fetchall()
    assert counters == [("p1", "failed", 2), ("p2", "pending", 1)]


def test_0005_gives_existing_users_a_credential_version_and_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    settings = Settings(DATABASE_URL=f"sqlite:///{path}")
    upgrade_database(settings, "0004")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO users (id, username, password_hash, scopes, is_active, created_at, "
            "updated_at) VALUES ('u1', 'old', 'h', 'read', 1, "
            "'2026-11-22 06:00:00.000000', '2026-11-22 06:00:00.000000')"
        )
    upgrade_database(settings, "0005")
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT id, credential_version FROM users").fetchall()
    assert rows == [("u1", 1)]
    command.downgrade(alembic_config(settings), "0004")
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(users)")]
        kept = connection.execute("SELECT id, username FROM users").fetchall()
    assert "credential_version" not in columns
    assert kept == [("u1", "old")]
