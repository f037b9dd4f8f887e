from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from buildstate.server.auth.principal import SCOPES, Scope
from buildstate.server.validation import STORABLE, Name, Password, ShortText

Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"),
    STORABLE,
]
NewPassword = Annotated[str, StringConstraints(min_length=8, max_length=1024), STORABLE]


def _read_only() -> list[Scope]:
    return ["read"]


def _read_write() -> list[Scope]:
    return ["read", "write"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Scoped(_Strict):
    """Scopes come back de-duplicated and in order: read, write, admin."""

    @field_validator("scopes", check_fields=False)
    @classmethod
    def _order_scopes(cls, value: list[Scope] | None) -> list[Scope] | None:
        return None if value is None else [s for s in SCOPES if s in value]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class IdmLogin(_Strict):
    username: ShortText
    password: Password


class UserCreate(_Scoped):
    username: Name = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$", examples=["newuser"])
    email: Email | None = None
    password: NewPassword
    scopes: list[Scope] = Field(default_factory=_read_only, min_length=1)


class UserUpdate(_Scoped):
    email: Email | None = None
    password: NewPassword | None = None
    scopes: list[Scope] | None = Field(None, min_length=1)
    is_active: bool | None = None


class UserRead(BaseModel):
    id: str
    username: str
    email: str | None
    scopes: list[Scope]
    is_active: bool
    created_at: datetime | None


class ApiTokenCreate(_Scoped):
    name: Name = Field(examples=["Pipeline Token"])
    scopes: list[Scope] = Field(default_factory=_read_write, min_length=1)
    expires_in_days: int | None = Field(
        365, ge=1, le=3650, description="Days until the token expires; null for never."
    )


class ApiTokenCreated(BaseModel):
    id: str
    token: str = Field(description="The secret. Shown once; store it now.")
    name: str
    scopes: list[Scope]
    expires_at: datetime | None
    created_at: datetime


class ApiTokenRead(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    prefix: str = Field(description="The token's recognisable start, e.g. `bst_1a2b…`.")
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
