"""Credentials: password hashes, JWTs and API-token secrets. No database, no HTTP."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from buildstate.server.db.types import utcnow

JWT_ALGORITHM = "HS256"
JWT_TYPE = "at+jwt"  # RFC 9068: access tokens say what they are
TOKEN_PREFIX = "bst_"  # noqa: S105 - lets secret scanners recognise a leaked buildstate token
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")  # secrets.token_hex(8)

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the user exists (``password_hash=None``)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Keys:
    """The server's signing key and the key API-token hashes are made with."""

    jwt_key: str

    @property
    def token_hash_key(self) -> bytes:
        return hmac.new(self.jwt_key.encode(), b"buildstate api-token hash v1", "sha256").digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    scopes: tuple[str, ...]
    token_id: str
    credential_version: int


def issue_jwt(
    keys: Keys,
    *,
    user_id: str,
    username: str,
    credential_version: int,
    scopes: Sequence[str],
    ttl: timedelta,
    issuer: str,
    audience: str,
) -> tuple[str, datetime]:
    now = utcnow()
    expires = now + ttl
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "name": username,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": expires,
        "jti": uuid.uuid4().hex,
        "cv": credential_version,  # the user's, when issued; see User.credential_version
    }
    token = jwt.encode(claims, keys.jwt_key, algorithm=JWT_ALGORITHM, headers={"typ": JWT_TYPE})
    return token, expires


def decode_jwt(keys: Keys, token: str, *, issuer: str, audience: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != JWT_TYPE:
            raise InvalidToken("wrong token type")
        claims = jwt.decode(
            token,
            keys.jwt_key,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud", "jti", "cv"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    scope = claims.get("scope", "")
    version = claims["cv"]
    if (
        not isinstance(scope, str)
        or not isinstance(claims["sub"], str)
        or type(version) is not int  # not a bool, not a float
    ):
        raise InvalidToken("malformed claims")
    return AccessClaims(
        user_id=claims["sub"],
        scopes=tuple(scope.split()),
        token_id=str(claims["jti"]),
        credential_version=version,
    )


def new_api_token() -> tuple[str, str, str]:
    """A fresh API token as ``(token_id, secret, full_token)``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{TOKEN_PREFIX}{token_id}_{secret}"


def split_api_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    # The id is looked up in the database: only what new_api_token makes gets that far.
    if not sep or not _TOKEN_ID.fullmatch(token_id) or not secret:
        return None
    return token_id, secret


def hash_secret(keys: Keys, secret: str) -> str:
    return hmac.new(keys.token_hash_key, secret.encode(), hashlib.sha256).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
