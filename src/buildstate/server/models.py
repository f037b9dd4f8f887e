"""The one list of every feature's ORM models: importing this module registers every
table on ``Base.metadata``, for Alembic's autogenerate and for the tests' clean-up.
A new feature's ``models.py`` goes here (``tests/server/test_models.py`` checks it)."""

from __future__ import annotations

from buildstate.server.audit import models as audit
from buildstate.server.auth import models as auth
from buildstate.server.builds import models as builds
from buildstate.server.catalog import models as catalog
from buildstate.server.db.base import Base
from buildstate.server.idempotency import models as idempotency
from buildstate.server.projects import models as projects

FEATURES = (audit, auth, builds, catalog, idempotency, projects)
metadata = Base.metadata
