"""What the sync and async clients share: the request description, the retry policy and
the response handling, written once without I/O.

``exchange()`` is a generator that drives one API call: it yields what to do next (send
this request, or sleep this long) and is sent back what happened (a response or a
transport error). ``Client`` and ``AsyncClient`` only run that loop with blocking or
awaiting I/O, so retries, idempotency keys and error mapping cannot drift apart.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar, cast

import httpx

from buildstate.client.errors import (
    BuildstateError,
    RateLimitedError,
    UnreachableError,
    error_class_for,
)

T = TypeVar("T")

Outcome = httpx.Response | httpx.TransportError
Params = Mapping[str, str | int | float | bool | list[str] | None]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation: what to send, and that the decoded body is a ``T``."""

    method: str
    path: str
    params: Params | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    deduplicated: bool = False  # the server honours Idempotency-Key on this operation

    @property
    def retry_safe(self) -> bool:
        """Whether sending it twice has the effect of sending it once: reads, PUT and
        DELETE by their nature, POSTs only where the server deduplicates by key."""
        return self.method != "POST" or self.deduplicated


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Retried: connection errors and timeouts, 429 (waiting at least ``Retry-After``) and
    5xx other than 501. Build writes are retried too: each carries one ``Idempotency-Key``
    for all its attempts, so the server applies it once. Other POSTs (which the server
    does not deduplicate) are retried only when they cannot have been applied: the
    connection was never made, or the answer was 429 or 503.
    """

    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (full jitter: uniform in [0, cap])."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return self.rng.uniform(0, cap)

    def delay_after(self, attempt: int, outcome: Outcome, safe: bool = True) -> float | None:
        """Seconds to wait before retrying, or ``None`` when this outcome is final.
        ``safe``: the request may be applied twice without harm (see the class doc)."""
        if attempt >= self.max_attempts:
            return None
        if isinstance(outcome, httpx.TransportError):
            unsent = isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)
            return self.backoff(attempt) if safe or unsent else None
        status = outcome.status_code
        if not safe and status not in (429, 503):
            return None
        if status == 429:
            hint = retry_after_seconds(outcome.headers)
            if hint is not None and hint > self.max_retry_after:
                return None
            return max(hint or 0.0, self.backoff(attempt))
        if status >= 500 and status != 501:
            return self.backoff(attempt)
        return None


NO_RETRY = RetryPolicy(max_attempts=1)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Send:
    """Instruction from ``exchange``: send this request (keyword arguments of
    ``httpx.Client.request``)."""

    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Sleep:
    seconds: float


Exchange = Generator[Send | Sleep, Outcome | None, T]


def exchange(
    call: Call[T],
    *,
    base_url: str,
    headers: Mapping[str, str],
    policy: RetryPolicy,
) -> Exchange[T]:
    """Drive ``call`` to its decoded result, retrying as ``policy`` says."""
    send_headers = {**headers, **(call.headers or {})}
    if call.deduplicated:
        send_headers["Idempotency-Key"] = call.idempotency_key or str(uuid.uuid4())
    kwargs: dict[str, Any] = {
        "method": call.method,
        "url": base_url + call.path,
        "params": _query(call.params),
        "headers": send_headers,
    }
    if call.json is not None:
        kwargs["json"] = call.json
    if call.form is not None:
        kwargs["data"] = dict(call.form)
    attempt = 0
    while True:
        attempt += 1
        outcome = yield Send(kwargs)
        assert outcome is not None
        delay = policy.delay_after(attempt, outcome, call.retry_safe)
        if delay is None:
            return cast(T, decode(outcome))
        yield Sleep(delay)


def _query(params: Params | None) -> list[tuple[str, str | int | float | bool]] | None:
    """Drop unset filters and expand lists into repeated keys (``label=a&label=b``)."""
    if not params:
        return None
    pairs: list[tuple[str, str | int | float | bool]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((key, item) for item in value)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, value))
    return pairs


def decode(outcome: Outcome) -> Any:
    """The JSON body of a successful response; raise the typed error otherwise."""
    if isinstance(outcome, httpx.TimeoutException):
        raise UnreachableError(f"timed out talking to the server ({type(outcome).__name__})")
    if isinstance(outcome, httpx.TransportError):
        raise UnreachableError(f"cannot reach the server: {outcome or type(outcome).__name__}")
    if outcome.is_success:
        if outcome.status_code == 204 or not outcome.content:
            return None
        return outcome.json()
    raise api_error(outcome)


def api_error(response: httpx.Response) -> BuildstateError:
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    detail = _detail_text(body) or response.text.strip()[:200] or response.reason_phrase
    request_id = response.headers.get("x-request-id")
    if isinstance(body, dict) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    cls = error_class_for(response.status_code)
    extra: dict[str, Any] = {}
    if cls is RateLimitedError:
        extra["retry_after"] = retry_after_seconds(response.headers)
    return cls(
        detail,
        status_code=response.status_code,
        request_id=request_id,
        body=body,
        **extra,
    )


def _detail_text(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        # FastAPI validation errors: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return None if detail is None else str(detail)
