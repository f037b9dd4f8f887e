"""Responses the endpoints build themselves."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response


def json_response(
    payload: bytes | str, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON that is already serialized (the operation's ``response_model`` documents it)."""
    return Response(
        payload, status_code=status_code, headers=headers, media_type="application/json"
    )
