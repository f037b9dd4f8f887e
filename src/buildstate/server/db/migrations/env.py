"""Alembic environment: runs migrations on the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection

from buildstate.server.db.database import driver_url
from buildstate.server.db.sqlite.connect import sqlite_path
from buildstate.server.models import metadata
from buildstate.server.settings import Settings

_MIGRATION_LOCK = 0x6275696C64  # "build": the advisory lock replicas share while migrating

target_metadata = metadata


def _settings() -> Settings:
    settings = context.config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else Settings()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            connection.commit()


def _run_online() -> None:
    url = driver_url(_settings().database_url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=str(driver_url(_settings().database_url)), target_metadata=target_metadata
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
