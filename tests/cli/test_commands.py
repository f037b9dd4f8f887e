"""Commands against a scripted transport: request shapes, stdout/stderr and exit codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from buildstate import Client, RetryPolicy
from buildstate.cli import session
from buildstate.cli.app import create_app

Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """Records requests; answers from a handler."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.handler: Handler = lambda r: httpx.Response(200, json={})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Api:
    fake = Api()

    def make_client(conn: Any) -> Client:
        http = httpx.Client(transport=httpx.MockTransport(fake))
        policy = RetryPolicy(max_attempts=conn.retries, backoff_base=0.0)
        return Client(
            conn.api_url, api_key=conn.api_key, token=conn.token, retry=policy, http_client=http
        )

    monkeypatch.setattr(session, "make_client", make_client)
    monkeypatch.setenv("BLDST_API_URL", "http://api.test")
    monkeypatch.setenv("BLDST_API_KEY", "dev-key-12345")
    return fake


def bldst(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(create_app(), list(args), input=input)


def test_add_state_seed_form(api: Api) -> None:
    answer = {"build_id": "b-1", "state_code": 25, "status": "completed"}
    api.handler = lambda r: httpx.Response(201, json=answer)
    result = bldst(
        "build",
        "add-state",
        "b-1",
        "--state",
        "25",
        "--status",
        "Packer build completed successfully",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == answer
    request = api.requests[0]
    assert (request.method, request.url.path) == ("POST", "/builds/b-1/state")
    assert request.headers["X-API-Key"] == "dev-key-12345"
    assert request.headers["Idempotency-Key"]
    assert api.body() == {
        "state_code": 25,
        "status": "completed",
        "message": "Packer build completed successfully",
    }


def test_add_state_with_artifact_and_table_output(api: Api) -> None:
    api.handler = lambda r: httpx.Response(201, json={"build_id": "b-1", "state_code": 50})
    result = bldst(
        "build",
        "add-state",
        "b-1",
        "--state",
        "50",
        "--status",
        "in-progress",
        "--message",
        "Ansible",
        "--metadata",
        '{"pct": 30}',
        "--artifact-path",
        "s3://b/k.qcow2",
        "--artifact-type",
        "s3",
        "--artifact-size",
        "2048",
        "--artifact-checksum",
        "sha256:ab",
        "--artifact-metadata",
        '{"format": "qcow2"}',
        "--idempotency-key",
        "run-7-state-50",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["build_id    b-1", "state_code  50"]
    assert api.body() == {
        "state_code": 50,
        "status": "in_progress",
        "message": "Ansible",
        "metadata": {"pct": 30},
        "artifact_storage_type": "s3",
        "artifact_storage_path": "s3://b/k.qcow2",
        "artifact_size_bytes": 2048,
        "artifact_checksum": "sha256:ab",
        "artifact_metadata": {"format": "qcow2"},
    }
    assert api.requests[0].headers["Idempotency-Key"] == "run-7-state-50"


def test_add_failure_and_create(api: Api) -> None:
    api.handler = lambda r: httpx.Response(201, json={"id": "x"})
    assert (
        bldst(
            "build",
            "add-failure",
            "b-1",
            "--state",
            "25",
            "--type",
            "PACKER_TIMEOUT",
            "--message",
            "AMI timeout",
            "--details",
            '{"exit_code": 1}',
            "--not-retryable",
        ).exit_code
        == 0
    )
    assert api.body() == {
        "state_code": 25,
        "error_message": "AMI timeout",
        "failure_type": "PACKER_TIMEOUT",
        "error_details": {"exit_code": 1},
        "is_retryable": False,
    }
    result = bldst(
        "build",
        "create",
        "--build-number",
        "build-1",
        "--project-id",
        "p",
        "--platform-id",
        "aws",
        "--os-version-id",
        "rhel",
        "--image-type-id",
        "base",
        "--created-by",
        "concourse-x",
        "--concourse-url",
        "/teams//pipelines/",
        "--label",
        "arch=x86_64",
        "--label",
        "tier=gold",
        "--metadata",
        '{"sha": "abc"}',
        "-o",
        "json",
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"id": "x"}
    assert api.body() == {
        "project_id": "p",
        "platform_id": "aws",
        "os_version_id": "rhel",
        "image_type_id": "base",
        "build_number": "build-1",
        "created_by": "concourse-x",
        "concourse_url": "/teams//pipelines/",
        "labels": {"arch": "x86_64", "tier": "gold"},
        "build_metadata": {"sha": "abc"},
    }


def test_list_filters(api: Api) -> None:
    api.handler = lambda r: httpx.Response(200, json=[])
    result = bldst(
        "build",
        "list",
        "--limit",
        "20",
        "--status",
        "in-progress",
        "--label",
        "arch=x86",
        "--created-after",
        "2026-01-01T00:00:00Z",
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    params = api.requests[0].url.params
    assert params["limit"] == "20"
    assert params["status"] == "in_progress"
    assert params["label"] == "arch=x86"
    assert params["created_after"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "add-state", "b", "--state", "1", "--metadata", "{oops"), "not valid JSON"),
        (("build", "add-state", "b", "--state", "101"), "less than or equal to 100"),
        (("build", "create", "--build-number", "n"), "Missing option"),
        (("build", "list", "--label", "novalue"), "expected key=value"),
        (("user", "update", "u-1"), "nothing to update"),
    ],
)
def test_usage_errors_exit_2_without_a_request(
    api: Api, args: tuple[str, ...], message: str
) -> None:
    result = bldst(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (404, 3, ""),
        (409, 3, ""),
        (422, 3, ""),
        (401, 3, "bldst auth"),
        (403, 3, "scope"),
        (500, 5, "retry later"),
        (503, 5, "retry later"),
    ],
)
def test_api_errors_map_to_exit_codes(api: Api, status: int, code: int, hint: str) -> None:
    body = {"detail": "Build with id 'x' not found", "request_id": "r-1"}
    api.handler = lambda r: httpx.Response(status, json=body)
    result = bldst("build", "get", "x", "-o", "json")
    assert result.exit_code == code
    assert result.stdout == ""
    line = f"error: {status} Build with id 'x' not found (request id r-1)"
    assert result.stderr.startswith(line)
    assert result.stderr.count("\n") == 1
    assert hint in result.stderr


def test_unreachable_exits_4_after_retries(api: Api) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    api.handler = refuse
    result = bldst("health", "check")
    assert result.exit_code == 4
    assert "is the server running at http://api.test?" in result.stderr
    assert len(api.requests) == 4  # default retries


def test_catalog_commands(api: Api) -> None:
    api.handler = lambda r: httpx.Response(201, json={"id": "aws-x", "name": "aws-x"})
    result = bldst(
        "platform",
        "create",
        "--name",
        "aws-x",
        "--cloud-provider",
        "aws",
        "--region",
        "us-east-1",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert (api.requests[-1].method, api.requests[-1].url.path) == ("POST", "/platforms/")
    assert api.body() == {"name": "aws-x", "cloud_provider": "aws", "region": "us-east-1"}

    assert bldst("os-version", "update", "rhel", "--version", "9.4").exit_code == 0
    assert (api.requests[-1].method, api.requests[-1].url.path) == ("PUT", "/os_versions/rhel")
    assert api.body() == {"version": "9.4"}

    api.handler = lambda r: httpx.Response(200, json=[{"id": "sc-1", "state_code": 25}])
    result = bldst("state-code", "list", "--project-id", "p-1")
    assert result.exit_code == 0
    assert "25" in result.stdout
    assert api.requests[-1].url.path == "/projects/p-1/state-codes"
    assert bldst("state-code", "list").exit_code == 2  # --project-id is required

    api.handler = lambda r: httpx.Response(201, json={"id": "t-1", "token": "bst_secret"})
    result = bldst(
        "token",
        "create",
        "--user-id",
        "u-1",
        "--name",
        "ci",
        "--scope",
        "read",
        "--scope",
        "write",
        "--expires-in-days",
        "30",
    )
    assert result.exit_code == 0
    assert "not shown again" in result.stderr
    assert api.body() == {"name": "ci", "scopes": ["read", "write"], "expires_in_days": 30}
    assert api.requests[-1].url.path == "/users/u-1/tokens"


def test_delete_needs_yes_when_not_interactive(api: Api) -> None:
    api.handler = lambda r: httpx.Response(204)
    refused = bldst("platform", "delete", "aws-x")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert api.requests == []
    done = bldst("image-type", "delete", "base", "--yes")
    assert done.exit_code == 0
    assert "soft delete" in done.stderr
    assert (api.requests[0].method, api.requests[0].url.path) == ("DELETE", "/image_types/base")


def test_user_create_prompts_for_password(api: Api) -> None:
    api.handler = lambda r: httpx.Response(201, json={"id": "u-1", "username": "ci"})
    result = bldst("user", "create", "--username", "ci", "--scope", "read", input="pw-1\npw-1\n")
    assert result.exit_code == 0, result.stderr
    assert api.body() == {"username": "ci", "password": "pw-1", "scopes": ["read"]}


def plan(**extra: Any) -> dict[str, Any]:
    return {
        "build_id": "b-1",
        "status": "failed",
        "attempt": 1,
        "can_resume": True,
        "resume_from_state": 25,
        "next_state": 50,
        "skipped_states": [0, 10, 25],
        "checkpoint": None,
        **extra,
    }


def test_resume_dry_run_only_reads(api: Api) -> None:
    api.handler = lambda r: httpx.Response(200, json=plan())
    result = bldst("build", "resume", "b-1", "--dry-run", "--from-state", "10", "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == plan()
    assert [(r.method, r.url.path) for r in api.requests] == [("GET", "/builds/b-1/resume")]
    assert api.requests[0].url.params["from_state"] == "10"


def test_resume_posts_and_prints_env(api: Api) -> None:
    api.handler = lambda r: httpx.Response(200, json=plan(attempt=2, status="in_progress"))
    result = bldst("build", "resume", "b-1", "--from-state", "25", "--format", "env")
    assert result.exit_code == 0
    assert "export BLDST_ATTEMPT=2\n" in result.stdout
    assert all(line.startswith("export BLDST_") for line in result.stdout.splitlines())
    assert api.body() == {"from_state": 25}


def test_resume_verify_refuses_a_bad_checkpoint(api: Api, tmp_path: Path) -> None:
    image = tmp_path / "cp.img"
    image.write_bytes(b"x" * 10)
    good = hashlib.sha256(b"x" * 10).hexdigest()
    checkpoint = {
        "storage_type": "local",
        "storage_path": str(image),
        "size_bytes": 10,
        "checksum": "sha256:" + "f" * 64,
    }
    api.handler = lambda r: httpx.Response(200, json=plan(checkpoint=checkpoint))
    refused = bldst("build", "resume", "b-1", "--verify")
    assert refused.exit_code == 6
    assert refused.stderr.startswith("error: refusing to resume build b-1: checkpoint ")
    assert [r.method for r in api.requests] == ["GET"]  # nothing was changed

    checkpoint["checksum"] = f"sha256:{good}"
    accepted = bldst("build", "resume", "b-1", "--verify", "-o", "json")
    assert accepted.exit_code == 0, accepted.stderr
    assert "verified: present, size, sha256" in accepted.stderr
    assert [r.method for r in api.requests] == ["GET", "GET", "POST"]


def test_reports_name_their_attempt_from_the_option_or_the_resume_env(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.handler = lambda r: httpx.Response(200, json={})
    state = ("build", "add-state", "b-1", "--state", "50")
    failure = ("build", "add-failure", "b-1", "--state", "50", "--message", "x")
    assert bldst(*state, "--attempt", "2").exit_code == 0
    assert api.body()["attempt"] == 2
    assert bldst(*state).exit_code == 0
    assert "attempt" not in api.body()  # nothing exported: no check

    # What `eval "$(bldst build resume b-1 --format env)"` leaves in the shell.
    monkeypatch.setenv("BLDST_BUILD_ID", "b-1")
    monkeypatch.setenv("BLDST_ATTEMPT", "3")
    for command in (state, failure):
        assert bldst(*command).exit_code == 0
        assert api.body()["attempt"] == 3
        assert bldst(*command, "--attempt", "4").exit_code == 0
        assert api.body()["attempt"] == 4  # the option wins
    assert bldst("build", "add-state", "b-2", "--state", "50").exit_code == 0
    assert "attempt" not in api.body()  # exported for another build
    monkeypatch.delenv("BLDST_BUILD_ID")
    assert bldst(*failure).exit_code == 0
    assert api.body()["attempt"] == 3

    sent = len(api.requests)
    monkeypatch.setenv("BLDST_ATTEMPT", "two")
    refused = bldst(*state)
    assert refused.exit_code == 2
    assert refused.stderr == "error: BLDST_ATTEMPT='two' is not an attempt number (1 or more)\n"
    assert bldst(*state, "--attempt", "0").exit_code == 2
    assert len(api.requests) == sent


def test_a_refused_report_of_a_superseded_attempt_exits_3(api: Api) -> None:
    detail = "attempt 2 of build b-1 is no longer current: the current attempt is 3"
    api.handler = lambda r: httpx.Response(409, json={"detail": detail, "request_id": "r"})
    result = bldst("build", "add-state", "b-1", "--state", "50", "--attempt", "2")
    assert result.exit_code == 3
    assert detail in result.stderr


def test_resume_force_and_expected_attempt(api: Api) -> None:
    api.handler = lambda r: httpx.Response(200, json=plan(attempt=3, status="in_progress"))
    result = bldst("build", "resume", "b-1", "--force", "--expected-attempt", "2", "-o", "env")
    assert result.exit_code == 0, result.stderr
    assert "export BLDST_ATTEMPT=3\n" in result.stdout
    assert api.body() == {"force": True, "expected_attempt": 2}


def test_server_start_calls_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    import buildstate.server.runner as runner

    monkeypatch.setattr(runner, "serve", lambda **kw: calls.append(kw))
    anywhere = "0.0.0.0"  # noqa: S104 - passed through, nothing binds here
    result = bldst("server", "start", "--host", anywhere, "--workers", "2", "--production")
    assert result.exit_code == 0, result.stderr
    apart = bldst("server", "start", "--no-services")
    assert apart.exit_code == 0, apart.stderr
    assert calls == [
        {
            "host": anywhere,
            "port": 8080,
            "workers": 2,
            "reload": False,
            "production": True,
            "services": True,
        },
        {
            "host": "127.0.0.1",
            "port": 8080,
            "workers": 1,
            "reload": False,
            "production": False,
            "services": False,
        },
    ]


def test_missing_server_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "buildstate.server.db.migrate", None)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.delitem(sys.modules, "buildstate.server.runner", raising=False)
    result = bldst("server", "start")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the server needs extra packages (uvicorn is missing): "
        "pip install 'buildstate[server]'\n"
    )
    result = bldst("db", "upgrade")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the server needs extra packages (")


def test_help_has_examples_and_exit_codes() -> None:
    root = bldst("--help")
    assert "Exit codes" in root.stdout
    assert "4 server unreachable" in root.stdout
    for group, command in [
        ("build", "add-state"),
        ("build", "resume"),
        ("platform", "create"),
        ("token", "list"),
        ("config", "set-url"),
        ("dashboard", "recent"),
    ]:
        text = bldst(group, command, "--help").stdout
        assert "Example" in text, (group, command)


def test_entry_point_version_and_lazy_imports() -> None:
    code = (
        "import sys; sys.argv = ['bldst', '--version']\n"
        "from buildstate.cli.main import run; run()\n"
        "heavy = {'typer', 'httpx', 'rich', 'pydantic', 'buildstate.server'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["bldst 0.1.0", "[]"]
    code = (
        "from buildstate.cli.app import create_app; import sys; create_app('build')\n"
        "print(sorted({'httpx', 'rich', 'buildstate.server', 'buildstate.cli.catalog'}"
        " & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
