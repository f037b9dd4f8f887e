"""Every query on users, API tokens and instance secrets."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from buildstate.server.auth.models import ApiToken, InstanceSecret, User
from buildstate.server.db.types import utcnow


class AuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_user(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def get_user_by_name(self, username: str) -> User | None:
        result = self.session.execute(select(User).where(User.username == username))
        return result.scalar_one_or_none()

    def list_users(self, skip: int, limit: int) -> list[User]:
        query = select(User).order_by(User.created_at, User.id).offset(skip).limit(limit)
        return list((self.session.scalars(query)).all())

    def count_users(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(User)) or 0)

    def active_admin_ids(self) -> list[str]:
        query = select(User.id).where(User.is_active.is_(True), User.scopes.contains("admin"))
        return list((self.session.scalars(query)).all())

    def add(self, obj: User | ApiToken | InstanceSecret) -> None:
        self.session.add(obj)
        self.session.flush()

    def get_token(self, token_id: str) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        query = select(ApiToken).where(ApiToken.user_id == user_id)
        return list((self.session.scalars(query.order_by(ApiToken.created_at))).all())

    def revoke_user_tokens(self, user_id: str) -> None:
        self.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def get_secret(self, name: str) -> str | None:
        secret = self.session.get(InstanceSecret, name)
        return secret.value if secret else None
