"""Every API operation, described once (see ``_runner.endpoint``).

Paths follow the API reference exactly: catalog collections end in ``/`` (``/platforms/``),
``/builds`` and ``/users`` do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from buildstate.client._core import Call
from buildstate.client._runner import Bound, R, auth_headers, drop_none, endpoint
from buildstate.client.types import (
    ApiToken,
    Artifact,
    Build,
    BuildStateView,
    DashboardSummary,
    Failure,
    JSONObject,
    PlatformStats,
    ResumePlan,
    StateUpdate,
    TokenResponse,
    User,
)

# Aliases so the ``list`` methods below do not shadow the builtin in annotations.
Objects = list[JSONObject]
Builds = list[Build]
Users = list[User]
Tokens = list[ApiToken]
Artifacts = list[Artifact]


def _seg(value: str | int) -> str:
    """One path segment: ids may hold ``:`` or ``/`` and must not change the route."""
    return quote(str(value), safe="")


def _page(skip: int, limit: int) -> dict[str, int]:
    return {"skip": skip, "limit": limit}


class Catalog(Bound[R]):
    """Reference data with soft delete: platforms, OS versions, image types, projects."""

    def __init__(self, runner: R, collection: str) -> None:
        super().__init__(runner)
        self.collection = collection  # e.g. "/platforms/"

    @endpoint
    def list(
        self, *, skip: int = 0, limit: int = 100, include_deactivated: bool = False
    ) -> Call[Objects]:
        params = {**_page(skip, limit), "include_deactivated": include_deactivated}
        return Call("GET", self.collection, params=params)

    @endpoint
    def get(self, item_id: str) -> Call[JSONObject]:
        return Call("GET", self.collection + _seg(item_id))

    @endpoint
    def create(self, /, **fields: Any) -> Call[JSONObject]:
        """Create from the kind's fields (``name=…``; optional ``id=`` slug)."""
        return Call("POST", self.collection, json=drop_none(fields))

    @endpoint
    def update(
        self, /, item_id: str, *, if_match: str | None = None, **fields: Any
    ) -> Call[JSONObject]:
        headers = {"If-Match": if_match} if if_match else None
        return Call("PUT", self.collection + _seg(item_id), json=drop_none(fields), headers=headers)

    @endpoint
    def delete(self, item_id: str) -> Call[None]:
        """Soft delete: the object stays readable with ``deactivated_at`` set."""
        return Call("DELETE", self.collection + _seg(item_id))


class StateCodes(Bound[R]):
    """State-code definitions of one project."""

    @staticmethod
    def _path(project_id: str, state_code_id: str | None = None) -> str:
        base = f"/projects/{_seg(project_id)}/state-codes"
        return base if state_code_id is None else f"{base}/{_seg(state_code_id)}"

    @endpoint
    def list(self, project_id: str) -> Call[Objects]:
        return Call("GET", self._path(project_id))

    @endpoint
    def get(self, project_id: str, state_code_id: str) -> Call[JSONObject]:
        return Call("GET", self._path(project_id, state_code_id))

    @endpoint
    def create(self, /, project_id: str, **fields: Any) -> Call[JSONObject]:
        """Fields: ``state_code`` (int), ``description``, ``is_blocking``."""
        return Call("POST", self._path(project_id), json=drop_none(fields))

    @endpoint
    def update(self, /, project_id: str, state_code_id: str, **fields: Any) -> Call[JSONObject]:
        return Call("PUT", self._path(project_id, state_code_id), json=drop_none(fields))

    @endpoint
    def delete(self, project_id: str, state_code_id: str) -> Call[None]:
        return Call("DELETE", self._path(project_id, state_code_id))


class UsersApi(Bound[R]):
    @endpoint
    def list(self, *, skip: int = 0, limit: int = 100) -> Call[Users]:
        return Call("GET", "/users", params=_page(skip, limit))

    @endpoint
    def get(self, user_id: str) -> Call[User]:
        return Call("GET", f"/users/{_seg(user_id)}")

    @endpoint
    def me(self) -> Call[User]:
        """The user (or token owner) the client authenticates as."""
        return Call("GET", "/users/me")

    @endpoint
    def create(self, /, **fields: Any) -> Call[User]:
        """Fields: ``username``, ``password``, ``email``, ``scopes``."""
        return Call("POST", "/users", json=drop_none(fields))

    @endpoint
    def update(self, /, user_id: str, **fields: Any) -> Call[User]:
        """Any of ``email``, ``password``, ``scopes``, ``is_active``."""
        return Call("PUT", f"/users/{_seg(user_id)}", json=drop_none(fields))

    @endpoint
    def delete(self, user_id: str) -> Call[None]:
        return Call("DELETE", f"/users/{_seg(user_id)}")


class TokensApi(Bound[R]):
    """API tokens of one user."""

    @endpoint
    def list(self, user_id: str) -> Call[Tokens]:
        return Call("GET", f"/users/{_seg(user_id)}/tokens")

    @endpoint
    def create(self, /, user_id: str, **fields: Any) -> Call[ApiToken]:
        """Fields: ``name``, ``scopes``, ``expires_in_days``. The secret is returned once."""
        return Call("POST", f"/users/{_seg(user_id)}/tokens", json=drop_none(fields))

    @endpoint
    def delete(self, user_id: str, token_id: str) -> Call[None]:
        return Call("DELETE", f"/users/{_seg(user_id)}/tokens/{_seg(token_id)}")


class BuildsApi(Bound[R]):
    @endpoint
    def create(
        self,
        *,
        project_id: str,
        platform_id: str,
        os_version_id: str,
        image_type_id: str,
        build_number: str,
        created_by: str | None = None,
        concourse_url: str | None = None,
        labels: Mapping[str, str] | None = None,
        build_metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Build]:
        body = drop_none(
            {
                "project_id": project_id,
                "platform_id": platform_id,
                "os_version_id": os_version_id,
                "image_type_id": image_type_id,
                "build_number": build_number,
                "created_by": created_by,
                "concourse_url": concourse_url,
                "labels": dict(labels) if labels else None,
                "build_metadata": build_metadata,
            }
        )
        return Call(
            "POST", "/builds", json=body, idempotency_key=idempotency_key, deduplicated=True
        )

    @endpoint
    def get(self, build_id: str) -> Call[Build]:
        """The build with its ``failures``."""
        return Call("GET", f"/builds/{_seg(build_id)}")

    @endpoint
    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        project_id: str | None = None,
        status: str | None = None,
        platform_id: str | None = None,
        os_version_id: str | None = None,
        image_type_id: str | None = None,
        build_number: str | None = None,
        labels: Mapping[str, str] | Sequence[str] | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
    ) -> Call[Builds]:
        """Newest first. ``labels`` is ``{"k": "v"}`` or ``["k=v", …]`` (all must match)."""
        if isinstance(labels, Mapping):
            labels = [f"{key}={value}" for key, value in labels.items()]
        params = {
            **_page(skip, limit),
            "project_id": project_id,
            "status": status,
            "platform_id": platform_id,
            "os_version_id": os_version_id,
            "image_type_id": image_type_id,
            "build_number": build_number,
            "label": list(labels) if labels else None,
            "created_after": created_after,
            "created_before": created_before,
        }
        return Call("GET", "/builds", params=params)

    @endpoint
    def add_state(
        self,
        build_id: str,
        state_code: int,
        status: str = "in_progress",
        *,
        message: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        artifact_storage_type: str | None = None,
        artifact_storage_path: str | None = None,
        artifact_size_bytes: int | None = None,
        artifact_checksum: str | None = None,
        artifact_metadata: Mapping[str, Any] | None = None,
        attempt: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[StateUpdate]:
        """Report a state. With ``attempt`` (the one ``resume`` returned), the server refuses
        with 409 (``ConflictError``) once that attempt is no longer the current one."""
        body = drop_none(
            {
                "state_code": state_code,
                "status": status,
                "message": message,
                "metadata": metadata,
                "artifact_storage_type": artifact_storage_type,
                "artifact_storage_path": artifact_storage_path,
                "artifact_size_bytes": artifact_size_bytes,
                "artifact_checksum": artifact_checksum,
                "artifact_metadata": artifact_metadata,
                "attempt": attempt,
            }
        )
        path = f"/builds/{_seg(build_id)}/state"
        return Call("POST", path, json=body, idempotency_key=idempotency_key, deduplicated=True)

    @endpoint
    def add_failure(
        self,
        build_id: str,
        state_code: int,
        error_message: str,
        *,
        failure_type: str | None = None,
        error_details: Mapping[str, Any] | None = None,
        is_retryable: bool = True,
        attempt: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Failure]:
        """Record a failure; ``attempt`` fences it as in :meth:`add_state`."""
        body = drop_none(
            {
                "state_code": state_code,
                "error_message": error_message,
                "failure_type": failure_type,
                "error_details": error_details,
                "is_retryable": is_retryable,
                "attempt": attempt,
            }
        )
        path = f"/builds/{_seg(build_id)}/failure"
        return Call("POST", path, json=body, idempotency_key=idempotency_key, deduplicated=True)

    @endpoint
    def state(self, build_id: str) -> Call[BuildStateView]:
        """Current state and the history, oldest first."""
        return Call("GET", f"/builds/{_seg(build_id)}/state")

    @endpoint
    def artifacts(self, build_id: str) -> Call[Artifacts]:
        return Call("GET", f"/builds/{_seg(build_id)}/artifacts")

    @endpoint
    def resume_plan(self, build_id: str, *, from_state: int | None = None) -> Call[ResumePlan]:
        """Where a resume would start, without changing anything."""
        params = {"from_state": from_state}
        return Call("GET", f"/builds/{_seg(build_id)}/resume", params=params)

    @endpoint
    def resume(
        self,
        build_id: str,
        *,
        from_state: int | None = None,
        message: str | None = None,
        force: bool = False,
        expected_attempt: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[ResumePlan]:
        """Start a new attempt from the last good checkpoint (or ``from_state``).

        The server refuses (409, ``ConflictError``) while the current attempt is live
        (in progress and recently active) unless ``force``, and, with ``expected_attempt``,
        once the current attempt is another one. The answer's ``attempt`` is the new one:
        pass it to ``add_state``/``add_failure``."""
        body = drop_none(
            {
                "from_state": from_state,
                "message": message,
                "force": True if force else None,
                "expected_attempt": expected_attempt,
            }
        )
        path = f"/builds/{_seg(build_id)}/resume"
        return Call("POST", path, json=body, idempotency_key=idempotency_key, deduplicated=True)

    @endpoint
    def cancel(self, build_id: str, *, reason: str | None = None) -> Call[Build]:
        body = drop_none({"reason": reason})
        return Call("POST", f"/builds/{_seg(build_id)}/cancel", json=body)


class DashboardApi(Bound[R]):
    @endpoint
    def summary(self) -> Call[DashboardSummary]:
        return Call("GET", "/dashboard/summary")

    @endpoint
    def recent(self, *, limit: int = 10) -> Call[Builds]:
        return Call("GET", "/dashboard/recent", params={"limit": limit})

    @endpoint
    def platform(self, platform_id: str) -> Call[PlatformStats]:
        return Call("GET", f"/dashboard/platform/{_seg(platform_id)}")


class Api(Bound[R]):
    """The whole API; ``Client`` and ``AsyncClient`` bind it to their runner."""

    def __init__(self, runner: R) -> None:
        super().__init__(runner)
        self.platforms: Catalog[R] = Catalog(runner, "/platforms/")
        self.os_versions: Catalog[R] = Catalog(runner, "/os_versions/")
        self.image_types: Catalog[R] = Catalog(runner, "/image_types/")
        self.projects: Catalog[R] = Catalog(runner, "/projects/")
        self.state_codes: StateCodes[R] = StateCodes(runner)
        self.users: UsersApi[R] = UsersApi(runner)
        self.tokens: TokensApi[R] = TokensApi(runner)
        self.builds: BuildsApi[R] = BuildsApi(runner)
        self.dashboard: DashboardApi[R] = DashboardApi(runner)

    @endpoint
    def health(self) -> Call[JSONObject]:
        return Call("GET", "/health")

    @endpoint
    def ready(self) -> Call[JSONObject]:
        return Call("GET", "/ready")

    @endpoint
    def status(self) -> Call[JSONObject]:
        return Call("GET", "/status")

    @endpoint
    def login(
        self, username: str, password: str, *, scope: str | None = None
    ) -> Call[TokenResponse]:
        """Exchange a username and password for a JWT (``POST /token``, form encoded).

        The client keeps its credentials; pass the token to ``use_token`` to switch."""
        form = drop_none({"username": username, "password": password, "scope": scope})
        return Call("POST", "/token", form=form)

    def use_token(self, token: str | None = None, *, api_key: str | None = None) -> None:
        """Authenticate further calls with this JWT (or API key)."""
        headers = self._runner.headers
        headers.pop("Authorization", None)
        headers.pop("X-API-Key", None)
        headers.update(auth_headers(api_key, token))
