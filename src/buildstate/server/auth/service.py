"""Rules for logins, users and API tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

from buildstate.server.auth import security
from buildstate.server.auth.hashing import PasswordHashing
from buildstate.server.auth.models import ApiToken, User
from buildstate.server.auth.principal import Principal, parse_scopes, scope_level, scopes_up_to
from buildstate.server.auth.repository import AuthRepository
from buildstate.server.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from buildstate.server.auth.throttle import LoginThrottle
from buildstate.server.db.session import Work
from buildstate.server.db.types import utcnow
from buildstate.server.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from buildstate.server.settings import Settings

BAD_LOGIN = "Incorrect username or password"


def user_read(user: User) -> UserRead:
    return UserRead.model_validate(
        {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "scopes": parse_scopes(user.scopes),
            "is_active": user.is_active,
            "created_at": user.created_at,
        }
    )


def token_read(token: ApiToken) -> ApiTokenRead:
    return ApiTokenRead(
        id=token.id,
        name=token.name,
        scopes=parse_scopes(token.scopes),
        prefix=f"{security.TOKEN_PREFIX}{token.id}_…",
        expires_at=token.expires_at,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


class AuthService:
    def __init__(
        self,
        repo: AuthRepository,
        settings: Settings,
        keys: security.Keys,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.keys = keys

    def active_user_named(self, username: str) -> User | None:
        user = self.repo.get_user_by_name(username)
        return user if user is not None and user.is_active else None

    def issue_token(self, user: User, scope: str | None) -> TokenResponse:
        level = scope_level(user.scopes.split())
        if scope:
            asked = scope.split()
            unknown = [s for s in asked if scope_level([s]) == 0]
            if unknown:
                raise Unprocessable(f"Unknown scope {unknown[0]!r}: use read, write or admin")
            level = min(level, scope_level(asked))
        ttl = timedelta(minutes=self.settings.jwt_access_token_expire_minutes)
        token, _ = security.issue_jwt(
            self.keys,
            user_id=user.id,
            username=user.username,
            credential_version=user.credential_version,
            scopes=scopes_up_to(level),
            ttl=ttl,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))

    def me(self, principal: Principal) -> UserRead:
        if principal.user_id is None:
            return UserRead(
                id=principal.credential_id,
                username=principal.credential_id,
                email=None,
                scopes=principal.scopes,
                is_active=True,
                created_at=None,
            )
        return user_read(self._user(principal.user_id))

    def create_user(self, body: UserCreate, password_hash: str) -> UserRead:
        if self.repo.get_user_by_name(body.username):
            raise Conflict(f"User {body.username!r} already exists")
        user = User(
            id=str(uuid.uuid4()),
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            scopes=" ".join(body.scopes),
            is_active=True,
        )
        self.repo.add(user)
        return user_read(user)

    def list_users(self, skip: int, limit: int) -> list[UserRead]:
        return [user_read(u) for u in self.repo.list_users(skip, limit)]

    def get_user(self, user_id: str) -> UserRead:
        return user_read(self._user(user_id))

    def update_user(
        self, user_id: str, body: UserUpdate, by: Principal, new_hash: str | None
    ) -> UserRead:
        user = self._user(user_id)
        ends_jwts = new_hash is not None
        if body.email is not None:
            user.email = body.email
        if new_hash is not None:
            user.password_hash = new_hash
        if body.scopes is not None:
            if scope_level(body.scopes) > by.level:
                raise Forbidden("Cannot grant scopes above your own")
            if "admin" not in body.scopes:
                self._keep_an_admin(user)
            ends_jwts |= scope_level(body.scopes) < scope_level(user.scopes.split())
            user.scopes = " ".join(body.scopes)
        if body.is_active is not None:
            if not body.is_active:
                self._keep_an_admin(user)
                self.repo.revoke_user_tokens(user.id)
            ends_jwts |= body.is_active != user.is_active
            user.is_active = body.is_active
        if ends_jwts:
            self._end_jwts(user)
        self.repo.session.flush()
        return user_read(user)

    def delete_user(self, user_id: str) -> None:
        """Deactivate (users stay for the record) and revoke every token they hold."""
        user = self._user(user_id)
        self._keep_an_admin(user)
        if user.is_active:
            self._end_jwts(user)  # they stay dead if the user is ever reactivated
        user.is_active = False
        self.repo.revoke_user_tokens(user.id)
        self.repo.session.flush()

    def create_token(self, user_id: str, body: ApiTokenCreate) -> ApiTokenCreated:
        user = self._user(user_id)
        if not user.is_active:
            raise Conflict(f"User {user.username!r} is deactivated")
        if scope_level(body.scopes) > scope_level(user.scopes.split()):
            raise Unprocessable(
                f"Token scopes {body.scopes} exceed the user's scopes {user.scopes.split()}"
            )
        token_id, secret, full = security.new_api_token()
        expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
        token = ApiToken(
            id=token_id,
            user_id=user.id,
            name=body.name,
            scopes=" ".join(body.scopes),
            secret_hash=security.hash_secret(self.keys, secret),
            expires_at=expires,
            created_at=utcnow(),
        )
        self.repo.add(token)
        return ApiTokenCreated(
            id=token.id,
            token=full,
            name=token.name,
            scopes=body.scopes,
            expires_at=token.expires_at,
            created_at=token.created_at,
        )

    def list_tokens(self, user_id: str) -> list[ApiTokenRead]:
        self._user(user_id)
        return [token_read(t) for t in self.repo.list_tokens(user_id)]

    def revoke_token(self, user_id: str, token_id: str) -> None:
        token = self.repo.get_token(token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"Token with id {token_id!r} not found for user {user_id!r}")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            self.repo.session.flush()

    def _user(self, user_id: str) -> User:
        user = self.repo.get_user(user_id)
        if user is None:
            raise NotFound(f"User with id {user_id!r} not found")
        return user

    @staticmethod
    def _end_jwts(user: User) -> None:
        """Every JWT issued to ``user`` so far stops working (see ``credential_version``).
        Incremented in SQL, so that concurrent changes cannot both write the same number."""
        user.credential_version = User.credential_version + 1

    def _keep_an_admin(self, user: User) -> None:
        if self.repo.active_admin_ids() == [user.id]:
            raise Conflict(f"{user.username!r} is the last active admin; make another admin first")


async def login(
    users: Work[AuthService],
    throttle: LoginThrottle,
    hashing: PasswordHashing,
    credentials: tuple[str, str],
    scope: str | None,
    address: str | None,
) -> TokenResponse:
    """Check a username and password; a JWT. The password hash is checked off the event
    loop and outside any transaction (it takes a quarter of a second on purpose), in one
    of the few hashing slots (a 503 when they are taken)."""
    username, password = credentials
    throttle.check(username, address)
    user = await users.lookup(AuthService.active_user_named, username)
    known = user.password_hash if user is not None else None
    if not await hashing.run(security.verify_password, password, known) or user is None:
        throttle.failed(username, address)
        raise Unauthorized(BAD_LOGIN)
    throttle.succeeded(username, address)
    return await users.lookup(AuthService.issue_token, user, scope)


async def password_hash(hashing: PasswordHashing, password: str) -> str:
    """Hash before the write's unit of work: a slow hash must not hold the writer."""
    return await hashing.run(security.hash_password, password)
