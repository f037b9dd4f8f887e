"""Python SDK for the buildstate API: ``Client`` (blocking) and ``AsyncClient``.

    from buildstate import Client

    with Client("http://localhost:8080", api_key="…") as api:
        build = api.builds.create(project_id=…, platform_id="aws-commercial", …)
        api.builds.add_state(build["id"], 25, "in_progress", message="Packer running")

Results are the decoded JSON the API returns (typed as ``TypedDict``s in ``types``);
errors are the classes in ``errors``.
"""

from buildstate.client._core import NO_RETRY, RetryPolicy
from buildstate.client.clients import AsyncClient, Client
from buildstate.client.errors import (
    APIError,
    AuthenticationError,
    BuildstateError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
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
]
