"""What the application holds while it runs, typed: made by ``create_app``, completed by
the lifespan (the database, the keys, the running services)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette

if TYPE_CHECKING:
    from buildstate.server.auth.hashing import PasswordHashing
    from buildstate.server.auth.principal import StaticKey
    from buildstate.server.auth.security import Keys
    from buildstate.server.auth.throttle import LoginThrottle
    from buildstate.server.db.database import Database
    from buildstate.server.db.hooks import CommitHooks
    from buildstate.server.ratelimit import RateLimits
    from buildstate.server.services.base import LoopService
    from buildstate.server.settings import Settings


@dataclass
class AppState:
    settings: Settings
    started: float  # time.monotonic() when the app was made
    static_keys: list[StaticKey]
    login_throttle: LoginThrottle
    password_hashing: PasswordHashing
    rate_limits: RateLimits | None
    hooks: CommitHooks
    # Set by the lifespan; reading one before it has run is an AttributeError.
    db: Database = field(init=False)
    keys: Keys = field(init=False)
    services: list[LoopService] = field(default_factory=list)


def state_of(app: Starlette) -> AppState:
    """The application's state (``app.state.buildstate``, set by ``create_app``)."""
    state: AppState = app.state.buildstate
    return state
