"""Who is calling, with which scopes: resolved once per request from the credential.

Scopes are ordered ``read < write < admin``; a credential's level is the highest scope it
carries, and each operation needs a minimum level. The level comes from the credential
presented, never from the user alone: a read-only token of an admin cannot delete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.routing import BaseRoute

from buildstate.server.auth import security
from buildstate.server.auth.repository import AuthRepository
from buildstate.server.db.database import Database
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Forbidden, Unauthorized
from buildstate.server.ratelimit import RouteClass
from buildstate.server.state import state_of

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_RANK: dict[str, int] = {scope: rank for rank, scope in enumerate(SCOPES, start=1)}


def scope_level(scopes: Iterable[str]) -> int:
    return max((_RANK.get(s, 0) for s in scopes), default=0)


def parse_scopes(text: str) -> list[Scope]:
    """``"write read"`` (as stored) → ``["read", "write"]``."""
    given = text.split()
    return [s for s in SCOPES if s in given]


def scopes_up_to(level: int) -> list[Scope]:
    """The scope list a credential of this level carries (``admin`` → all three)."""
    return [s for s in SCOPES if _RANK[s] <= level]


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "api_token", "api_key"]
    credential_id: str
    level: int
    user_id: str | None = None
    username: str | None = None

    @property
    def scopes(self) -> list[Scope]:
        return scopes_up_to(self.level)

    @property
    def actor(self) -> str:
        return self.username or self.credential_id


@dataclass(frozen=True)
class StaticKey:
    digest: bytes
    level: int
    label: str


def parse_static_keys(keys: list[str]) -> list[StaticKey]:
    """``API_KEYS`` entries (``key`` or ``key:scope``, checked by Settings). A key is named
    by its position (``api-key:2``) in audit records and ``created_by``: nothing derived
    from the secret is ever shown."""
    parsed = []
    for position, entry in enumerate(keys, start=1):
        raw, _, scope = entry.partition(":")
        level = _RANK[scope.strip().lower() or "admin"]
        digest = hashlib.sha256(raw.encode()).digest()
        parsed.append(StaticKey(digest=digest, level=level, label=f"api-key:{position}"))
    return parsed


# The two ways to present a credential, as OpenAPI documents them. `authenticate` reads the
# headers itself rather than through these as FastAPI security dependencies: every
# dependency costs FastAPI time to solve (see bench/RESULTS.md), and these run on every
# request. `document_security` puts them in the schema instead.
BEARER = HTTPBearer(auto_error=False, description="A JWT from `POST /token` or an API token.")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key or API token.")

MISSING = "Authentication required. Use Bearer token or X-API-Key."
STALE_JWT = (
    "Token no longer valid: the user's password, scopes or status changed after it was "
    "issued; log in again"
)


async def authenticate(request: Request) -> Principal:
    """The caller, from ``X-API-Key`` or ``Authorization: Bearer`` (a JWT or an API token);
    once per request, however many dependencies ask."""
    known: Principal | None = getattr(request.state, "authenticated", None)
    if known is not None:
        return known
    state = state_of(request.app)
    db: Database = state.db
    headers = request.headers
    api_key = headers.get("x-api-key")
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    bearer = bearer.strip() if scheme.lower() == "bearer" else ""
    if api_key:
        principal = await _from_key(api_key, state.static_keys, db, state.keys)
    elif bearer.startswith(security.TOKEN_PREFIX):
        principal = await _from_key(bearer, [], db, state.keys)
    elif bearer:
        principal = await _from_jwt(bearer, request, db)
    else:
        raise Unauthorized(MISSING)
    request.state.authenticated = principal  # for the next to ask
    request.state.principal = principal  # for the audit log
    return principal


async def _from_key(
    presented: str, static_keys: list[StaticKey], db: Database, keys: security.Keys
) -> Principal:
    parts = security.split_api_token(presented)
    if parts is not None:
        return await db.lookup(lambda session: _from_token(AuthRepository(session), keys, *parts))
    digest = hashlib.sha256(presented.encode()).digest()
    match = None
    for key in static_keys:  # compare with every key: the time taken says nothing
        if security.secrets_equal(key.digest.hex(), digest.hex()):
            match = key
    if match is None:
        raise Unauthorized("Invalid API key")
    return Principal("api_key", match.label, match.level)


def _from_token(repo: AuthRepository, keys: security.Keys, token_id: str, secret: str) -> Principal:
    token = repo.get_token(token_id)
    if (
        token is None
        or not security.secrets_equal(token.secret_hash, security.hash_secret(keys, secret))
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= utcnow())
    ):
        raise Unauthorized("Invalid, expired or revoked API token")
    user = repo.get_user(token.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid, expired or revoked API token")
    level = min(scope_level(token.scopes.split()), scope_level(user.scopes.split()))
    return Principal("api_token", f"token:{token.id}", level, user.id, user.username)


async def _from_jwt(token: str, request: Request, db: Database) -> Principal:
    app = state_of(request.app)
    settings = app.settings
    try:
        claims = security.decode_jwt(
            app.keys,
            token,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    except security.InvalidToken as exc:
        raise Unauthorized("Invalid or expired token") from exc
    # The one read a JWT costs: the user row, which also says whether the token is stale.
    user = await db.lookup(lambda session: AuthRepository(session).get_user(claims.user_id))
    if user is None or not user.is_active:
        raise Unauthorized("Invalid or expired token")
    if user.credential_version != claims.credential_version:
        raise Unauthorized(STALE_JWT)
    level = min(scope_level(claims.scopes), scope_level(user.scopes.split()))
    return Principal("user", f"jwt:{claims.token_id}", level, user.id, user.username)


Authenticated = Annotated[Principal, Depends(authenticate)]
# The dependencies that call authenticate(): an operation using any of them needs a credential.
_GUARDS: set[Callable[..., Awaitable[Any]]] = {authenticate}
G = TypeVar("G", bound=Callable[..., Awaitable[Any]])


def guard(dependency: G) -> G:
    """Declare that ``dependency`` authenticates (calls :func:`authenticate`)."""
    _GUARDS.add(dependency)
    return dependency


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency of an operation that needs ``scope``: the caller, authenticated,
    checked, and counted against its rate limit (reads, or writes for write and admin)."""
    needed = _RANK[scope]
    message = f"{scope.capitalize()} permission required"
    kind: RouteClass = "read" if scope == "read" else "write"

    @guard
    async def _check(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.level < needed:
            raise Forbidden(message)
        limits = state_of(request.app).rate_limits
        if limits is not None:
            owner = principal.user_id or principal.credential_id
            limits.spend(request.scope, owner, kind)
        return principal

    return _check


ReadScope = Annotated[Principal, Depends(require("read"))]
WriteScope = Annotated[Principal, Depends(require("write"))]
AdminScope = Annotated[Principal, Depends(require("admin"))]


def document_security(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Declare the credential schemes in ``schema``, and on every operation that
    authenticates that either one is accepted."""
    schemes = (BEARER, API_KEY)
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        {
            s.scheme_name: s.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            for s in schemes
        }
    )
    # As FastAPI's own schema does: each route as included, with its routers' dependencies.
    for context in iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute) and _guarded(context.dependant):
            operations = schema["paths"].get(context.path_format, {})
            for method in context.methods or ():
                if method.lower() in operations:
                    operations[method.lower()]["security"] = [{s.scheme_name: []} for s in schemes]


def _guarded(dependant: Dependant) -> bool:
    return any(d.call in _GUARDS or _guarded(d) for d in dependant.dependencies)
