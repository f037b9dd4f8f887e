"""What the server does once at start: pick its keys, check production, seed development.

Blocking: the lifespan runs :func:`prepare` in a thread before the first request.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from buildstate.server.auth import security
from buildstate.server.auth.models import InstanceSecret, User
from buildstate.server.auth.repository import AuthRepository
from buildstate.server.catalog.models import CatalogEntry, ImageType, OsVersion, Platform
from buildstate.server.db.database import Database
from buildstate.server.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME, DEV_API_KEY, Settings

log = logging.getLogger("buildstate.bootstrap")

# The ids the seed API reference's example workflow uses.
DEV_REFERENCE_DATA: list[CatalogEntry] = [
    Platform(id="aws-commercial", name="aws-commercial", cloud_provider="aws", region="us-east-1"),
    OsVersion(id="rhel-9.3", name="Red Hat Enterprise Linux", version="9.3"),
    ImageType(id="base", name="base", description="Base operating system image"),
]


class StartupRefused(RuntimeError):
    """The configuration is unsafe for the chosen mode; the message says what to set."""


def prepare(settings: Settings, db: Database) -> security.Keys:
    """Check or seed the database for the configured mode; the keys to sign tokens with."""
    if settings.is_production:
        check_production(settings, db)
        if settings.admin_password:
            ensure_admin(db, settings.admin_password)
    else:
        seed_development(db)
    return load_keys(settings, db)


def load_keys(settings: Settings, db: Database) -> security.Keys:
    """JWT_SECRET_KEY, or in development a generated key kept in the database so that
    tokens survive restarts and every replica on the same database shares it."""
    if settings.jwt_secret_key:
        return security.Keys(settings.jwt_secret_key)
    with Session(db.writer) as session:
        repo = AuthRepository(session)
        value = repo.get_secret("jwt_secret_key")
        if value is None:
            value = secrets.token_urlsafe(48)
            try:
                repo.add(InstanceSecret(name="jwt_secret_key", value=value))
                session.commit()
            except IntegrityError:  # another replica made it first
                session.rollback()
                value = repo.get_secret("jwt_secret_key")
        assert value is not None
    return security.Keys(value)


def check_production(settings: Settings, db: Database) -> None:
    problems = settings.production_problems()
    with Session(db.reader) as session:
        admin = AuthRepository(session).get_user_by_name(DEV_ADMIN_USERNAME)
    if (
        admin is not None
        and admin.is_active
        and security.verify_password(DEV_ADMIN_PASSWORD, admin.password_hash)
    ):
        problems.append(
            "user 'admin' still has the development password: change it "
            "(PUT /users/{id} with a new password) or deactivate it before production"
        )
    if problems:
        raise StartupRefused(
            "refusing to start in production mode:\n  - " + "\n  - ".join(problems)
        )


def ensure_admin(db: Database, password: str) -> None:
    """Create user ``admin`` with ``password`` if there is no user at all."""
    with Session(db.writer) as session:
        repo = AuthRepository(session)
        if repo.count_users():
            return
        repo.add(
            User(
                id=str(uuid.uuid4()),
                username=DEV_ADMIN_USERNAME,
                password_hash=security.hash_password(password),
                scopes="read write admin",
                is_active=True,
            )
        )
        session.commit()
        log.info("created user %r", DEV_ADMIN_USERNAME)


def seed_development(db: Database) -> None:
    ensure_admin(db, DEV_ADMIN_PASSWORD)
    with Session(db.writer) as session:
        for template in DEV_REFERENCE_DATA:
            model = type(template)
            if session.get(model, template.id) is None:
                columns = {
                    c.key: getattr(template, c.key)
                    for c in model.__table__.c
                    if getattr(template, c.key, None) is not None
                }
                session.add(model(revision=1, **columns))
        try:
            session.commit()
        except IntegrityError:  # a replica seeded concurrently, or the names are taken
            session.rollback()
    log.warning(
        "DEVELOPMENT MODE: API key %r and user %r / %r are enabled. Never expose this server; "
        "set BUILDSTATE_MODE=production with your own secrets for real use.",
        DEV_API_KEY,
        DEV_ADMIN_USERNAME,
        DEV_ADMIN_PASSWORD,
    )
