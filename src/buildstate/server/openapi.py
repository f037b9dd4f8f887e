"""OpenAPI helpers: every route documents every error status it can return."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="What was wrong and what is accepted (a list for schema validation errors)."
    )
    request_id: str | None = Field(None, description="Quote this when reporting a problem.")


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Authentication required or credential invalid",
    403: "The credential lacks the scope this operation needs",
    404: "Not found",
    409: "Conflict with the current state",
    412: "If-Match does not match the current ETag",
    413: "Request body too large",
    422: "The request does not match the schema",
    429: "Too many requests; retry after `Retry-After` seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code with the error body it returns. Whatever can
    answer 401 can also answer 429 (an address that sent too many invalid credentials)."""
    if 401 in codes and 429 not in codes:
        codes = (*codes, 429)
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}
