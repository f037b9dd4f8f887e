"""Rules for logins, users and API tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

from anyio import to_thread

from buildstate.server.auth import security
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
        throttle: LoginThrottle,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.keys = keys
        self.throttle = throttle

    async def login(
        self, username: str, password: str, scope: str | None, address: str | None
    ) -> TokenResponse:
        self.throttle.check(username, address)
        user = await self.repo.get_user_by_name(username)
        usable = user is not None and user.is_active
        ok = await to_thread.run_sync(
            security.verify_password, password, user.password_hash if usable and user else None
        )
        if not ok or user is None:
            self.throttle.failed(username, address)
            raise Unauthorized(BAD_LOGIN)
        self.throttle.succeeded(username)
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
            scopes=scopes_up_to(level),
            ttl=ttl,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))

    async def me(self, principal: Principal) -> UserRead:
        if principal.user_id is None:
            return UserRead(
                id=principal.credential_id,
                username=principal.credential_id,
                email=None,
                scopes=principal.scopes,
                is_active=True,
                created_at=None,
            )
        return user_read(await self._user(principal.user_id))

    async def create_user(self, body: UserCreate) -> UserRead:
        # Hash first: on SQLite the first query takes the writer, which a slow hash would hold.
        password_hash = await to_thread.run_sync(security.hash_password, body.password)
        if await self.repo.get_user_by_name(body.username):
            raise Conflict(f"User {body.username!r} already exists")
        user = User(
            id=str(uuid.uuid4()),
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            scopes=" ".join(body.scopes),
            is_active=True,
        )
        await self.repo.add(user)
        return user_read(user)

    async def list_users(self, skip: int, limit: int) -> list[UserRead]:
        return [user_read(u) for u in await self.repo.list_users(skip, limit)]

    async def get_user(self, user_id: str) -> UserRead:
        return user_read(await self._user(user_id))

    async def update_user(self, user_id: str, body: UserUpdate, by: Principal) -> UserRead:
        new_hash = None
        if body.password is not None:  # before the first query, as in create_user
            new_hash = await to_thread.run_sync(security.hash_password, body.password)
        user = await self._user(user_id)
        if body.email is not None:
            user.email = body.email
        if new_hash is not None:
            user.password_hash = new_hash
        if body.scopes is not None:
            if scope_level(body.scopes) > by.level:
                raise Forbidden("Cannot grant scopes above your own")
            if "admin" not in body.scopes:
                await self._keep_an_admin(user)
            user.scopes = " ".join(body.scopes)
        if body.is_active is not None:
            if not body.is_active:
                await self._keep_an_admin(user)
                await self.repo.revoke_user_tokens(user.id)
            user.is_active = body.is_active
        await self.repo.session.flush()
        return user_read(user)

    async def delete_user(self, user_id: str) -> None:
        """Deactivate (users stay for the record) and revoke every token they hold."""
        user = await self._user(user_id)
        await self._keep_an_admin(user)
        user.is_active = False
        await self.repo.revoke_user_tokens(user.id)
        await self.repo.session.flush()

    async def create_token(self, user_id: str, body: ApiTokenCreate) -> ApiTokenCreated:
        user = await self._user(user_id)
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
        await self.repo.add(token)
        return ApiTokenCreated(
            id=token.id,
            token=full,
            name=token.name,
            scopes=body.scopes,
            expires_at=token.expires_at,
            created_at=token.created_at,
        )

    async def list_tokens(self, user_id: str) -> list[ApiTokenRead]:
        await self._user(user_id)
        return [token_read(t) for t in await self.repo.list_tokens(user_id)]

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        token = await self.repo.get_token(token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"Token with id {token_id!r} not found for user {user_id!r}")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            await self.repo.session.flush()

    async def _user(self, user_id: str) -> User:
        user = await self.repo.get_user(user_id)
        if user is None:
            raise NotFound(f"User with id {user_id!r} not found")
        return user

    async def _keep_an_admin(self, user: User) -> None:
        if await self.repo.active_admin_ids() == [user.id]:
            raise Conflict(f"{user.username!r} is the last active admin; make another admin first")
