"""The SDK against the real app: through the in-process TestClient, and over real HTTP
(``live_server``) with connection failures injected into the transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from buildstate import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    RetryPolicy,
)

DEV_KEY = "dev-key-12345"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.0)


@pytest.fixture
def sdk(client: TestClient) -> Client:
    return Client(api_key=DEV_KEY, http_client=client, retry=FAST)


def new_build(sdk: Client, number: str = "2024.02.001") -> Any:
    project = sdk.projects.create(name=f"proj-{number}")
    return sdk.builds.create(
        project_id=project["id"],
        platform_id="aws-commercial",
        os_version_id="rhel-9.3",
        image_type_id="base",
        build_number=number,
        labels={"arch": "x86_64"},
    )


def test_build_lifecycle(sdk: Client) -> None:
    build = new_build(sdk)
    assert (build["status"], build["current_state"]) == ("pending", 0)
    update = sdk.builds.add_state(
        build["id"],
        25,
        "completed",
        message="Packer done",
        artifact_storage_type="s3",
        artifact_storage_path="s3://b/25.qcow2",
        artifact_size_bytes=10,
        artifact_checksum="sha256:" + "a" * 64,
    )
    assert (update["state_code"], update["build_status"]) == (25, "in_progress")
    failure = sdk.builds.add_failure(
        build["id"], 50, "Ansible failed", failure_type="ANSIBLE_FAILED", error_details={"rc": 2}
    )
    assert failure["failure_type"] == "ANSIBLE_FAILED"
    detail = sdk.builds.get(build["id"])
    assert detail["status"] == "failed"
    assert len(detail["failures"]) == 1
    assert [h["state_code"] for h in sdk.builds.state(build["id"])["history"]] == [0, 25, 50]
    assert sdk.builds.artifacts(build["id"])[0]["storage_path"] == "s3://b/25.qcow2"
    plan = sdk.builds.resume_plan(build["id"])
    assert plan["can_resume"]
    assert plan["resume_from_state"] == 25
    resumed = sdk.builds.resume(build["id"], message="retry")
    assert (resumed["attempt"], resumed["status"]) == (2, "in_progress")
    assert [b["id"] for b in sdk.builds.list(labels={"arch": "x86_64"})] == [build["id"]]
    assert sdk.builds.cancel(build["id"], reason="superseded")["status"] == "cancelled"
    with pytest.raises(ConflictError) as caught:
        sdk.builds.cancel(build["id"])
    assert caught.value.status_code == 409
    assert caught.value.request_id
    assert sdk.dashboard.summary()["cancelled_builds"] == 1
    assert sdk.dashboard.recent(limit=5)[0]["id"] == build["id"]
    assert sdk.dashboard.platform("aws-commercial")["total_builds"] == 1


def test_a_worker_names_its_attempt_and_is_fenced_once_superseded(sdk: Client) -> None:
    build = new_build(sdk)
    sdk.builds.add_failure(build["id"], 10, "flaky mirror")
    mine = sdk.builds.resume(build["id"], expected_attempt=1)["attempt"]
    assert sdk.builds.add_state(build["id"], 20, attempt=mine)["attempt"] == mine == 2
    with pytest.raises(ConflictError, match="in progress in attempt 2"):
        sdk.builds.resume(build["id"])  # live: a second worker would run beside it
    taken = sdk.builds.resume(build["id"], force=True, expected_attempt=2)["attempt"]
    assert taken == 3
    with pytest.raises(ConflictError) as stale:
        sdk.builds.add_state(build["id"], 30, attempt=mine)
    assert "attempt 2 of build" in stale.value.detail
    assert "the current attempt is 3" in stale.value.detail
    with pytest.raises(ConflictError, match="the current attempt is 3"):
        sdk.builds.add_failure(build["id"], 30, "late", attempt=mine)
    history = sdk.builds.state(build["id"])["history"]
    assert [(h["attempt"], h["state_code"]) for h in history][-2:] == [(2, 20), (3, 0)]


def test_catalog_users_tokens_and_login(sdk: Client, client: TestClient) -> None:
    assert "aws-commercial" in [p["id"] for p in sdk.platforms.list()]
    os_version = sdk.os_versions.create(name="Red Hat Enterprise Linux", version="rhel-8.8")
    assert sdk.os_versions.update(os_version["id"], version="rhel-8.9")["version"] == "rhel-8.9"
    sdk.os_versions.delete(os_version["id"])
    assert sdk.os_versions.get(os_version["id"])["deactivated_at"] is not None
    project = sdk.projects.create(name="platform-images")
    code = sdk.state_codes.create(project["id"], state_code=25, description="Packer")
    assert [c["id"] for c in sdk.state_codes.list(project["id"])] == [code["id"]]

    user = sdk.users.create(username="ci", password="password-123", scopes=["read"])
    token = sdk.tokens.create(user["id"], name="pipeline", scopes=["read"])
    assert token["token"]
    reader = Client(api_key=token["token"], http_client=client)
    assert reader.users.me()["username"] == "ci"

    jwt = sdk.login("admin", "admin123")["access_token"]
    with_jwt = Client(token=jwt, http_client=client)
    assert with_jwt.users.me()["username"] == "admin"
    with pytest.raises(AuthenticationError):
        sdk.login("admin", "wrong")


def test_not_found_carries_detail_and_request_id(sdk: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        sdk.builds.get("no-such-build")
    assert "no-such-build" in caught.value.detail
    assert caught.value.request_id


class DropsResponses(httpx.BaseTransport):
    """Real HTTP, but the first ``drops`` writes reach the server and their responses are
    lost (the connection resets), as when a load balancer or network fails mid-request."""

    def __init__(self, drops: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.drops = drops
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if request.method == "POST" and self.drops > 0:
            self.drops -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_retried_writes_land_once_over_real_http(live_server: str) -> None:
    with Client(live_server, api_key=DEV_KEY) as setup:
        project = setup.projects.create(name="retry-project")
    transport = DropsResponses(drops=2)
    with httpx.Client(transport=transport) as http:
        flaky = Client(live_server, api_key=DEV_KEY, retry=FAST, http_client=http)
        build = flaky.builds.create(
            project_id=project["id"],
            platform_id="aws-commercial",
            os_version_id="rhel-9.3",
            image_type_id="base",
            build_number="retry-1",
        )
        transport.drops = 2
        flaky.builds.add_state(build["id"], 10, "in_progress", message="prep")
    posts = [r for r in transport.sent if r.method == "POST"]
    assert len(posts) == 6  # each write sent 3 times
    assert len({r.headers["Idempotency-Key"] for r in posts[:3]}) == 1
    assert len({r.headers["Idempotency-Key"] for r in posts[3:]}) == 1
    with Client(live_server, api_key=DEV_KEY) as check:
        assert [b["id"] for b in check.builds.list(build_number="retry-1")] == [build["id"]]
        history = check.builds.state(build["id"])["history"]
    assert [h["state_code"] for h in history] == [0, 10]


def test_async_client_over_real_http(live_server: str) -> None:
    async def main() -> tuple[Any, Any]:
        async with AsyncClient(live_server, api_key=DEV_KEY) as api:
            health, platforms = await asyncio.gather(api.health(), api.platforms.list())
            return health, platforms

    health, platforms = asyncio.run(main())
    assert health["status"] == "healthy"
    assert "aws-commercial" in [p["id"] for p in platforms]
