"""SDK behaviour that needs no server: retries, idempotency keys, error mapping, requests.

Connection failures are injected with ``httpx.MockTransport`` handlers that raise the
errors httpx raises for a refused connection or a lost response.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from buildstate import (
    AsyncClient,
    AuthenticationError,
    BuildstateError,
    Client,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnreachableError,
    ValidationError,
)

FAST = RetryPolicy(max_attempts=4, backoff_base=0.0)
BUILD = {"id": "b-1", "status": "pending", "current_state": 0}


class Flaky:
    """Fails the first ``failures`` requests with ``error``, then answers ``status``/``body``."""

    def __init__(
        self,
        failures: int,
        error: Callable[[httpx.Request], Any],
        status: int = 201,
        body: Any = BUILD,
    ) -> None:
        self.failures = failures
        self.error = error
        self.status = status
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            outcome = self.error(request)
            if isinstance(outcome, httpx.Response):
                return outcome
            raise outcome
        return httpx.Response(self.status, json=self.body)

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def refused(request: httpx.Request) -> Exception:
    return httpx.ConnectError("[Errno 111] Connection refused", request=request)


def lost(request: httpx.Request) -> Exception:
    return httpx.ReadError("connection reset by peer", request=request)


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json={"detail": "busy"}, headers=headers)


def sdk(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Client:
    kw.setdefault("retry", FAST)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client("http://api.test", api_key="k", http_client=http, **kw)


def create_build(client: Client) -> Any:
    return client.builds.create(
        project_id="p",
        platform_id="aws",
        os_version_id="rhel",
        image_type_id="base",
        build_number="n-1",
    )


@pytest.mark.parametrize("error", [refused, lost], ids=["refused", "response-lost"])
def test_write_is_retried_with_one_idempotency_key(error: Callable[..., Exception]) -> None:
    server = Flaky(failures=2, error=error)
    assert create_build(sdk(server)) == BUILD
    assert len(server.requests) == 3
    assert len(set(server.keys)) == 1
    assert server.keys[0]
    assert all(json.loads(r.content)["build_number"] == "n-1" for r in server.requests)


def test_each_write_gets_its_own_key_and_an_explicit_key_is_used() -> None:
    server = Flaky(failures=0, error=refused)
    client = sdk(server)
    create_build(client)
    create_build(client)
    client.builds.add_state("b-1", 10, idempotency_key="step-10")
    assert server.keys[0] != server.keys[1]
    assert server.keys[2] == "step-10"


def test_reads_carry_no_idempotency_key() -> None:
    server = Flaky(failures=1, error=refused, status=200, body=[])
    assert sdk(server).builds.list(limit=5) == []
    assert server.keys == [None, None]


@pytest.mark.parametrize(
    ("error", "sends"),
    [(refused, 3), (status(503), 3), (status(429), 3), (lost, 1), (status(500), 1)],
    ids=["refused", "503", "429", "response-lost", "500"],
)
def test_posts_the_server_does_not_deduplicate_are_retried_only_when_unapplied(
    error: Callable[[httpx.Request], Any], sends: int
) -> None:
    """A platform create that may have reached the server is not sent again: it would
    come back 409 (or, for a token, mint a second one)."""
    server = Flaky(failures=2, error=error, body={"id": "gcp"})
    client = sdk(server)
    if sends == 3:
        assert client.platforms.create(name="gcp") == {"id": "gcp"}
    else:
        with pytest.raises(BuildstateError):
            client.platforms.create(name="gcp")
    assert len(server.requests) == sends
    assert server.keys == [None] * sends


def test_gives_up_after_max_attempts_with_unreachable_error() -> None:
    server = Flaky(failures=99, error=refused)
    with pytest.raises(UnreachableError, match="Connection refused"):
        create_build(sdk(server))
    assert len(server.requests) == FAST.max_attempts


def test_timeout_is_unreachable() -> None:
    server = Flaky(failures=99, error=lambda r: httpx.ReadTimeout("slow", request=r))
    with pytest.raises(UnreachableError, match="timed out"):
        sdk(server, retry=1).health()
    assert len(server.requests) == 1


@pytest.mark.parametrize("code", [429, 500, 502, 503])
def test_429_and_5xx_are_retried(code: int) -> None:
    server = Flaky(failures=2, error=status(code))
    assert create_build(sdk(server)) == BUILD
    assert len(server.requests) == 3
    assert len(set(server.keys)) == 1


def test_5xx_after_last_attempt_raises_server_error() -> None:
    server = Flaky(failures=99, error=status(503))
    with pytest.raises(ServerError) as caught:
        sdk(server, retry=2).dashboard.summary()
    assert caught.value.status_code == 503
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, ConflictError),
        (422, ValidationError),
        (501, ServerError),
    ],
)
def test_client_errors_are_typed_and_not_retried(code: int, error: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body = {"detail": "Build with id 'x' not found", "request_id": "req-1"}
        return httpx.Response(code, json=body)

    requests: list[httpx.Request] = []
    with pytest.raises(error) as caught:
        sdk(handler).builds.get("x")
    assert len(requests) == 1
    exc: Any = caught.value
    assert (exc.status_code, exc.detail, exc.request_id) == (
        code,
        "Build with id 'x' not found",
        "req-1",
    )
    assert str(exc) == f"{code} Build with id 'x' not found (request id req-1)"


def test_validation_detail_list_and_request_id_header() -> None:
    body = {"detail": [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]}
    handler = lambda r: httpx.Response(422, json=body, headers={"X-Request-ID": "hdr-9"})  # noqa: E731
    with pytest.raises(ValidationError) as caught:
        sdk(handler).platforms.create(region="x")
    assert caught.value.detail == "name: field required"
    assert caught.value.request_id == "hdr-9"


def test_non_json_error_body() -> None:
    handler = lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")  # noqa: E731
    with pytest.raises(ServerError, match="Bad Gateway"):
        sdk(handler, retry=1).health()


def test_rate_limit_error_carries_retry_after() -> None:
    server = Flaky(failures=99, error=status(429, **{"Retry-After": "7"}))
    with pytest.raises(RateLimitedError) as caught:
        sdk(server, retry=RetryPolicy(max_attempts=1)).health()
    assert caught.value.retry_after == 7.0


def test_policy_honours_retry_after_and_gives_up_on_huge_hints() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=0.1, max_retry_after=60)
    request = httpx.Request("GET", "http://x/")
    wait = httpx.Response(429, headers={"Retry-After": "3"}, request=request)
    assert 3.0 <= policy.delay_after(1, wait) <= 3.1  # type: ignore[operator]
    too_long = httpx.Response(429, headers={"Retry-After": "3600"}, request=request)
    assert policy.delay_after(1, too_long) is None
    assert policy.delay_after(5, wait) is None  # out of attempts
    date = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert policy.delay_after(1, date) is not None  # a past date: retry after backoff


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0, rng=random.Random(7))
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed delay


def test_auth_headers_and_query_encoding() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    http = httpx.Client(transport=httpx.MockTransport(handler))
    Client("http://api.test/", token="jwt-1", http_client=http).builds.list(
        labels={"arch": "x86", "team": "a b"}, status="failed"
    )
    Client("http://api.test", api_key="key-1", http_client=http).platforms.list(
        include_deactivated=True
    )
    first, second = seen
    assert first.headers["Authorization"] == "Bearer jwt-1"
    assert "X-API-Key" not in first.headers
    assert first.url.params.get_list("label") == ["arch=x86", "team=a b"]
    assert first.url.path == "/builds"
    assert first.url.params["status"] == "failed"
    assert "project_id" not in first.url.params
    assert second.headers["X-API-Key"] == "key-1"
    assert str(second.url) == "http://api.test/platforms/?skip=0&limit=100&include_deactivated=true"


def test_ids_are_quoted_into_one_path_segment() -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={}))
    )
    Client("http://api.test", http_client=http).platforms.get("a/b:c")
    assert seen[0].url.raw_path == b"/platforms/a%2Fb%3Ac"


def test_delete_returns_none_and_login_posts_a_form() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"access_token": "t", "token_type": "bearer"})

    client = sdk(handler)
    assert client.platforms.delete("aws") is None
    assert client.login("admin", "pw", scope="read")["access_token"] == "t"
    assert seen[1].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen[1].content == b"username=admin&password=pw&scope=read"
    client.use_token("t")
    client.health()
    assert seen[2].headers["Authorization"] == "Bearer t"
    assert "X-API-Key" not in seen[2].headers


def test_async_client_shares_the_retry_loop() -> None:
    server = Flaky(failures=2, error=lost)

    async def handler(request: httpx.Request) -> httpx.Response:
        return server(request)

    async def main() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncClient("http://api.test", api_key="k", retry=FAST, http_client=http) as c:
            build = await c.builds.add_state("b-1", 25, "completed", message="packer done")
            server.status, server.body = 404, {"detail": "gone"}
            with pytest.raises(NotFoundError):
                await c.builds.get("b-1")
            return build

    assert asyncio.run(main()) == BUILD
    assert len(server.requests) == 4
    assert len(set(server.keys[:3])) == 1
    assert server.keys[3] is None
    body = json.loads(server.requests[0].content)
    assert body == {"state_code": 25, "status": "completed", "message": "packer done"}


def test_base_url_is_required_without_an_http_client() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Client()
