"""Pure-ASGI middleware (cheaper than BaseHTTPMiddleware on every request):
request ids, security headers, and the request body's limits (size and time).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from contextvars import ContextVar

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from buildstate.server.errors import BodyRefused, BodyTooLarge, BodyTooSlow
from buildstate.server.ratelimit import rate_limit_headers

log = logging.getLogger("buildstate.errors")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: https:; "
        b"style-src 'self' 'unsafe-inline' https:; script-src 'self' 'unsafe-inline' https:",
    ),
]


class StatusWatch:
    """A ``send`` that passes every message on and remembers the response's status
    (``status`` stays ``default`` until a response starts)."""

    def __init__(self, send: Send, default: int) -> None:
        self._send = send
        self.status = default

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", rid.encode()),
                    *rate_limit_headers(scope),
                    *_SECURITY_HEADERS,
                ]
            await send(message)

        try:
            if scope["path"].endswith("\n"):
                # Starlette's route patterns end in ``$``, which also matches before a final
                # newline: ``/image_types/%0A`` would list the image types.
                detail = f"No route for {scope['method']} {scope['path']!r}"
                await send_json(
                    send_with_headers, 404, {"detail": detail, "request_id": rid}, close=False
                )
                return
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._refuse(send_with_headers, rid, BodyTooLarge(self.max_body_bytes))
                return
            received = 0
            # A body is on its way unless the headers say there is none.
            pending = b"transfer-encoding" in headers or (length is not None and length != b"0")
            deadline = asyncio.get_running_loop().time() + self.body_timeout

            async def limited_receive() -> Message:
                nonlocal received, pending
                if not pending:
                    return await receive()
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise BodyTooSlow(self.body_timeout) from None
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise BodyTooLarge(self.max_body_bytes)
                    pending = message.get("more_body", False)
                return message

            try:
                await self.app(scope, limited_receive, send_with_headers)
            except BodyRefused as refused:
                if not started:
                    await self._refuse(send_with_headers, rid, refused)
            except Exception:
                # Rendered here, not by Starlette's outermost handler, so that even a 500
                # carries the request id and the security headers.
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not started:
                    await self._error(send_with_headers, rid)
        finally:
            request_id_var.reset(token)

    async def _refuse(self, send: Send, rid: str, refused: BodyRefused) -> None:
        await send_json(
            send, refused.status, {"detail": str(refused), "request_id": rid}, close=True
        )

    async def _error(self, send: Send, rid: str) -> None:
        detail = "Internal server error; the server log has the details"
        await send_json(send, 500, {"detail": detail, "request_id": rid}, close=False)


async def send_json(
    send: Send,
    status: int,
    payload: dict[str, str],
    *,
    close: bool,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A JSON error response straight from middleware (no route was involved)."""
    body = orjson.dumps(payload)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
