"""Schema migrations (Alembic, shipped inside the package).

The server runs :func:`upgrade_database` on start unless ``BUILDSTATE_AUTO_MIGRATE=false``;
``bldst db upgrade`` runs it by hand. On PostgreSQL an advisory lock makes replicas that
start together migrate one at a time.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from buildstate.server.settings import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "buildstate.server.db:migrations")
    config.attributes["settings"] = settings
    return config


def upgrade_database(settings: Settings | None = None, revision: str = "head") -> str:
    """Bring the configured database to ``revision`` (blocking; call it off the event loop).
    Returns the revision the database is at afterwards."""
    config = alembic_config(settings or Settings())
    command.upgrade(config, revision)
    target = ScriptDirectory.from_config(config).get_revision(revision)
    return target.revision if target is not None else revision
