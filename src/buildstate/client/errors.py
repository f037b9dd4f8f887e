"""Typed errors raised by the SDK.

Every error carries the HTTP status (``None`` when no response arrived), the server's
``detail`` message and the request id the server logged the request under, so a failed
pipeline step can be matched to a server log line.
"""

from __future__ import annotations

from typing import Any


class BuildstateError(Exception):
    """Base class of every error the SDK raises."""

    status_code: int | None = None

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        head = f"{self.status_code} {self.detail}" if self.status_code else self.detail
        return f"{head} (request id {self.request_id})" if self.request_id else head


class APIError(BuildstateError):
    """The server answered with an error status."""


class ValidationError(APIError):
    """400 or 422: the request was malformed or failed schema validation."""


class AuthenticationError(APIError):
    """401: missing, invalid or expired credentials."""

    status_code = 401


class PermissionDeniedError(APIError):
    """403: the credentials lack the scope the operation needs."""

    status_code = 403


class NotFoundError(APIError):
    """404: the resource does not exist."""

    status_code = 404


class ConflictError(APIError):
    """409 or 412: duplicate resource, illegal transition or stale ``If-Match``."""

    status_code = 409


class RateLimitedError(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed (after the retries the policy allows)."""


class UnreachableError(BuildstateError):
    """No response: connection refused, DNS failure, TLS error or timeout."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_class_for(status_code: int) -> type[APIError]:
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, APIError)
