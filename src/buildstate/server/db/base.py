"""The declarative base every feature's models share."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def load_models() -> type[Base]:
    """Import every feature's models so that ``Base.metadata`` knows all tables."""
    from buildstate.server.audit import models as _audit  # noqa: F401
    from buildstate.server.auth import models as _auth  # noqa: F401
    from buildstate.server.builds import models as _builds  # noqa: F401
    from buildstate.server.catalog import models as _catalog  # noqa: F401
    from buildstate.server.idempotency import models as _idem  # noqa: F401
    from buildstate.server.projects import models as _projects  # noqa: F401

    return Base
