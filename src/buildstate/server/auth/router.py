"""Login, users and per-user API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from sqlalchemy.orm import Session

from buildstate.server.auth.principal import AdminScope, Authenticated
from buildstate.server.auth.repository import AuthRepository
from buildstate.server.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    IdmLogin,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from buildstate.server.auth.service import AuthService, login, password_hash
from buildstate.server.db.session import Work
from buildstate.server.openapi import responses
from buildstate.server.state import state_of
from buildstate.server.validation import STORABLE, FormPassword, FormText, Limit, PathId, Skip


async def _service(request: Request) -> Work[AuthService]:
    state = state_of(request.app)

    def make(session: Session) -> AuthService:
        return AuthService(AuthRepository(session), state.settings, state.keys)

    return Work(request, make)


def _login_context(request: Request, username: str) -> str | None:
    """Note who tried (for the audit log); return the client address (for throttling)."""
    request.state.login_username = username
    return request.client.host if request.client else None


Service = Annotated[Work[AuthService], Depends(_service)]
router = APIRouter()
users = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "/token", response_model=TokenResponse, tags=["auth"], responses=responses(401, 422, 429)
)
async def token(
    request: Request,
    svc: Service,
    username: FormText,
    password: FormPassword,
    scope: Annotated[
        Annotated[str, STORABLE] | None, Form(max_length=64, description="e.g. `read`")
    ] = None,
) -> TokenResponse:
    """Exchange a username and password (OAuth2 password form) for a JWT."""
    address = _login_context(request, username)
    state = state_of(request.app)
    return await login(
        svc, state.login_throttle, state.password_hashing, (username, password), scope, address
    )


@router.post(
    "/auth/idm", response_model=TokenResponse, tags=["auth"], responses=responses(401, 422, 429)
)
async def idm_login(request: Request, body: IdmLogin, svc: Service) -> TokenResponse:
    """The same as `POST /token`, with a JSON body (for IDM integrations)."""
    address = _login_context(request, body.username)
    state = state_of(request.app)
    credentials = (body.username, body.password)
    return await login(
        svc, state.login_throttle, state.password_hashing, credentials, None, address
    )


@users.get("/me", response_model=UserRead, responses=responses(401))
async def me(principal: Authenticated, svc: Service) -> UserRead:
    """The caller: a user for a JWT or API token, a synthetic record for a static API key."""
    return await svc.lookup(AuthService.me, principal)


@users.post("", status_code=201, response_model=UserRead, responses=responses(401, 403, 409, 422))
async def create_user(request: Request, body: UserCreate, _: AdminScope, svc: Service) -> UserRead:
    hashed = await password_hash(state_of(request.app).password_hashing, body.password)
    return await svc.write(AuthService.create_user, body, hashed)


@users.get("", response_model=list[UserRead], responses=responses(401, 403, 422))
async def list_users(
    _: AdminScope, svc: Service, skip: Skip = 0, limit: Limit = 100
) -> list[UserRead]:
    return await svc.read(AuthService.list_users, skip, limit)


@users.get("/{user_id}", response_model=UserRead, responses=responses(401, 403, 404, 422))
async def get_user(user_id: PathId, _: AdminScope, svc: Service) -> UserRead:
    return await svc.lookup(AuthService.get_user, user_id)


@users.put("/{user_id}", response_model=UserRead, responses=responses(401, 403, 404, 409, 422))
async def update_user(
    request: Request, user_id: PathId, body: UserUpdate, principal: AdminScope, svc: Service
) -> UserRead:
    hashing = state_of(request.app).password_hashing
    new_hash = None if body.password is None else await password_hash(hashing, body.password)
    return await svc.write(AuthService.update_user, user_id, body, principal, new_hash)


@users.delete(
    "/{user_id}",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 409, 422),
)
async def delete_user(user_id: PathId, _: AdminScope, svc: Service) -> Response:
    """Deactivate the user and revoke all their API tokens."""
    await svc.write(AuthService.delete_user, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.post(
    "/{user_id}/tokens",
    status_code=201,
    response_model=ApiTokenCreated,
    responses=responses(401, 403, 404, 409, 422),
)
async def create_token(
    user_id: PathId, body: ApiTokenCreate, _: AdminScope, svc: Service
) -> ApiTokenCreated:
    """Create an API token (`bst_…`). The secret is in this response only."""
    return await svc.write(AuthService.create_token, user_id, body)


@users.get(
    "/{user_id}/tokens", response_model=list[ApiTokenRead], responses=responses(401, 403, 404, 422)
)
async def list_tokens(user_id: PathId, _: AdminScope, svc: Service) -> list[ApiTokenRead]:
    return await svc.read(AuthService.list_tokens, user_id)


@users.delete(
    "/{user_id}/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def revoke_token(user_id: PathId, token_id: PathId, _: AdminScope, svc: Service) -> Response:
    """Revoke a token; it stops working at once."""
    await svc.write(AuthService.revoke_token, user_id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.delete(
    "/{user_id}/lockout",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def unlock(request: Request, user_id: PathId, _: AdminScope, svc: Service) -> Response:
    """End the user's login lockout and backoffs, from every address (in the worker
    process that answers: each counts failed logins on its own)."""
    user = await svc.lookup(AuthService.get_user, user_id)
    state_of(request.app).login_throttle.unlock(user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(users)
