"""buildstate: track VM image builds through numbered states and resume failed builds from
their last good checkpoint.

This package exposes the Python SDK; the server lives in ``buildstate.server`` (extra
``buildstate[server]``) and is never imported from here.

The SDK names are loaded on first use (PEP 562), so ``import buildstate.cli`` or
``buildstate.server`` does not pay for importing httpx.
"""

from typing import TYPE_CHECKING, Any

from buildstate._version import __version__

if TYPE_CHECKING:
    from buildstate.client import (
        NO_RETRY,
        APIError,
        AsyncClient,
        AuthenticationError,
        BuildstateError,
        Client,
        ConflictError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitedError,
        RetryPolicy,
        ServerError,
        UnreachableError,
        ValidationError,
    )

__all__ = [
    "NO_RETRY",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BuildstateError",
    "Client",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "UnreachableError",
    "ValidationError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from buildstate import client

        return getattr(client, name)
    raise AttributeError(f"module 'buildstate' has no attribute {name!r}")
