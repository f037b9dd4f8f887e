"""``Client`` (blocking) and ``AsyncClient`` (asyncio): the same ``Api`` bound to a
different runner."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from buildstate._version import __version__
from buildstate.client._core import RetryPolicy
from buildstate.client._runner import AsyncRunner, SyncRunner, auth_headers
from buildstate.client.api import Api

DEFAULT_TIMEOUT = 10.0


def _options(
    base_url: str | None,
    has_http_client: bool,
    api_key: str | None,
    token: str | None,
    retry: RetryPolicy | int | None,
) -> dict[str, Any]:
    if base_url is None and not has_http_client:
        raise ValueError("base_url is required unless an http_client is given")
    if isinstance(retry, int):
        retry = RetryPolicy(max_attempts=max(1, retry))
    headers = {"User-Agent": f"buildstate-python/{__version__}", "Accept": "application/json"}
    headers.update(auth_headers(api_key, token))
    return {
        "base_url": base_url or "",
        "headers": headers,
        "policy": retry or RetryPolicy(),
    }


class Client(Api[SyncRunner]):
    """Blocking client.

    ``Client("http://localhost:8080", api_key="…")`` or ``token="<jwt>"``. ``retry`` is a
    ``RetryPolicy`` or a maximum number of attempts (1 disables retries); ``timeout`` is in
    seconds per request. An injected ``http_client`` (custom transport, test client) is
    used as is (its own timeout applies) and not closed; with it ``base_url`` may be
    omitted to use the injected client's own base URL.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | int | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        options = _options(base_url, http_client is not None, api_key, token, retry)
        self._owns_http = http_client is None
        super().__init__(SyncRunner(http_client or httpx.Client(timeout=timeout), **options))

    def close(self) -> None:
        if self._owns_http:
            self._runner.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(Api[AsyncRunner]):
    """The asyncio twin of ``Client``; every operation is awaited."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | int | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        options = _options(base_url, http_client is not None, api_key, token, retry)
        self._owns_http = http_client is None
        super().__init__(AsyncRunner(http_client or httpx.AsyncClient(timeout=timeout), **options))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._runner.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
