"""The installed ``bldst`` against a real server: the seed README's Concourse pipeline
tasks run unchanged under ``sh -c`` with ``jq``, plus resume and error exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from buildstate import Client

BLDST = Path(sys.executable).parent / "bldst"
DEV_KEY = "dev-key-12345"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not BLDST.exists(), reason="bldst not installed (pip install -e .)"),
    pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed"),
]

# The `run` scripts of the README's "Example Pipeline Task", copied unchanged.
CREATE_BUILD_RECORD = """\
set -e

# Configure CLI (one time)
bldst config set-url ${BLDST_API_URL}
bldst auth set-key ${BLDST_API_KEY}

# Get reference data UUIDs (cache these in your pipeline if needed)
PLATFORM_ID=$(bldst platform list --output json | jq -r '.[] | select(.name=="aws-commercial") | .id')
OS_VERSION_ID=$(bldst os-version list --output json | jq -r '.[] | select(.version=="rhel-8.8") | .id')
IMAGE_TYPE_ID=$(bldst image-type list --output json | jq -r '.[] | select(.name=="base") | .id')
PROJECT_ID=$(bldst project list --output json | jq -r '.[] | select(.name=="platform-images") | .id')

# Create build record
BUILD_UUID=$(bldst build create \\
  --build-number "build-${BUILD_ID}" \\
  --project-id ${PROJECT_ID} \\
  --platform-id ${PLATFORM_ID} \\
  --os-version-id ${OS_VERSION_ID} \\
  --image-type-id ${IMAGE_TYPE_ID} \\
  --created-by "concourse-${BUILD_PIPELINE_NAME}" \\
  --concourse-url "${ATC_EXTERNAL_URL}/teams/${BUILD_TEAM_NAME}/pipelines/${BUILD_PIPELINE_NAME}" \\
  --output json | jq -r '.id')

echo ${BUILD_UUID} > build-info/uuid.txt
echo "‚úÖ Build record created: ${BUILD_UUID}"
"""  # noqa: E501 - verbatim from the README, mis-encoded emoji included
UPDATE_STATE_PREPARING = """\
set -e
bldst config set-url ${BLDST_API_URL}
bldst auth set-key ${BLDST_API_KEY}

BUILD_UUID=$(cat build-info/uuid.txt)
bldst build add-state ${BUILD_UUID} --state 10 --status "Preparing build environment"
"""
PACKER_BUILD = """\
set -e

# Update state before starting
BUILD_UUID=$(cat build-info/uuid.txt)
bldst build add-state ${BUILD_UUID} --state 25 --status "Running Packer build"

# Run packer
packer build -var-file=vars.json packer-templates/template.json

# Update state on success
bldst build add-state ${BUILD_UUID} --state 50 --status "Packer build completed"
"""
RECORD_PACKER_FAILURE = """\
BUILD_UUID=$(cat build-info/uuid.txt)
bldst build add-failure ${BUILD_UUID} \\
  --state 25 \\
  --type "PACKER_BUILD_FAILED" \\
  --message "Packer build failed - check logs for details"
"""
ANSIBLE_CONFIGURE = """\
set -e
BUILD_UUID=$(cat build-info/uuid.txt)

bldst build add-state ${BUILD_UUID} --state 75 --status "Running Ansible configuration"

ansible-playbook -i inventory ansible-playbooks/configure.yml

bldst build add-state ${BUILD_UUID} --state 100 --status "Build completed successfully"
"""
CHECK_BUILD_STATUS = """\
BUILD_UUID=$(cat build-info/uuid.txt)

# Get full build details
bldst build get ${BUILD_UUID}

# Check dashboard
bldst dashboard recent --limit 5
"""


class Worker:
    """A pipeline worker: a work dir, the task params as environment, bldst on PATH, and
    stand-ins for packer/ansible-playbook that succeed or fail on request."""

    def __init__(self, root: Path, api_url: str, *, packer_exit: int = 0) -> None:
        self.dir = root / "work"
        (self.dir / "build-info").mkdir(parents=True)
        tools = root / "tools"
        tools.mkdir()
        for name, code in (("packer", packer_exit), ("ansible-playbook", 0)):
            (tools / name).write_text(f'#!/bin/sh\necho {name} "$@"\nexit {code}\n')
            (tools / name).chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{tools}{os.pathsep}{BLDST.parent}{os.pathsep}{os.environ['PATH']}",
            "BLDST_API_URL": api_url,
            "BLDST_API_KEY": DEV_KEY,
        }

    def task(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", script],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def bldst(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BLDST), *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    @property
    def build_id(self) -> str:
        return (self.dir / "build-info" / "uuid.txt").read_text().strip()


@pytest.fixture
def sdk(client: TestClient) -> Client:
    """Reference data the README's pipeline selects by name."""
    api = Client(api_key=DEV_KEY, http_client=client)
    api.os_versions.create(name="Red Hat Enterprise Linux", version="rhel-8.8")
    api.projects.create(name="platform-images")
    return api


def test_readme_pipeline_with_failing_packer(live_server: str, sdk: Client, tmp_path: Path) -> None:
    worker = Worker(tmp_path, live_server, packer_exit=1)
    created = worker.task(CREATE_BUILD_RECORD)
    assert created.returncode == 0, created.stderr
    build_id = worker.build_id
    assert created.stdout.strip().endswith(f"Build record created: {build_id}")
    build = sdk.builds.get(build_id)
    rhel88 = [v["id"] for v in sdk.os_versions.list() if v["version"] == "rhel-8.8"]
    assert (build["build_number"], build["created_by"]) == ("build-", "concourse-")
    assert [build["os_version_id"]] == rhel88

    preparing = worker.task(UPDATE_STATE_PREPARING)
    assert preparing.returncode == 0, preparing.stderr
    packer = worker.task(PACKER_BUILD)
    assert packer.returncode == 1  # set -e stops at the failed packer
    assert "packer build -var-file=vars.json" in packer.stdout
    failure = worker.task(RECORD_PACKER_FAILURE)
    assert failure.returncode == 0, failure.stderr

    status = worker.task(CHECK_BUILD_STATUS)
    assert status.returncode == 0, status.stderr
    assert build_id in status.stdout
    assert "PACKER_BUILD_FAILED" in status.stdout
    state = sdk.builds.state(build_id)
    assert state["status"] == "failed"
    assert [(h["state_code"], h["status"]) for h in state["history"]] == [
        (0, "pending"),
        (10, "in_progress"),
        (25, "in_progress"),
        (25, "failed"),
    ]
    assert state["history"][1]["message"] == "Preparing build environment"
    assert sdk.builds.get(build_id)["failures"][0]["failure_type"] == "PACKER_BUILD_FAILED"


def test_readme_pipeline_to_completion(live_server: str, sdk: Client, tmp_path: Path) -> None:
    worker = Worker(tmp_path, live_server)
    for script in (CREATE_BUILD_RECORD, UPDATE_STATE_PREPARING, PACKER_BUILD, ANSIBLE_CONFIGURE):
        done = worker.task(script)
        assert done.returncode == 0, done.stderr
    state = sdk.builds.state(worker.build_id)
    assert (state["current_state"], state["status"]) == (100, "completed")
    assert [h["state_code"] for h in state["history"]] == [0, 10, 25, 50, 75, 100]


def test_resume_with_verified_checkpoint(live_server: str, sdk: Client, tmp_path: Path) -> None:
    worker = Worker(tmp_path, live_server)
    assert worker.task(CREATE_BUILD_RECORD).returncode == 0
    build_id = worker.build_id
    image = tmp_path / "state-25.qcow2"
    image.write_bytes(b"qcow2" * 4096)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    added = worker.bldst(
        "build",
        "add-state",
        build_id,
        "--state",
        "25",
        "--status",
        "Packer build completed successfully",
        "--artifact-type",
        "local",
        "--artifact-path",
        str(image),
        "--artifact-size",
        "20480",
        "--artifact-checksum",
        f"sha256:{digest}",
    )
    assert added.returncode == 0, added.stderr
    assert (
        worker.bldst(
            "build",
            "add-failure",
            build_id,
            "--state",
            "50",
            "--type",
            "ANSIBLE_FAILED",
            "--message",
            "boom",
        ).returncode
        == 0
    )

    image.write_bytes(b"corrupted")
    refused = worker.bldst("build", "resume", build_id, "--verify")
    assert refused.returncode == 6, refused.stderr
    assert "refusing to resume" in refused.stderr
    assert refused.stdout == ""
    assert sdk.builds.get(build_id)["attempt"] == 1

    image.write_bytes(b"qcow2" * 4096)
    resumed = worker.task(
        f'eval "$(bldst build resume {build_id} --verify --format env)"; '
        'echo "$BLDST_ATTEMPT $BLDST_RESUME_FROM_STATE $BLDST_NEXT_STATE '
        '$BLDST_CHECKPOINT_PATH"'
    )
    assert resumed.returncode == 0, resumed.stderr
    attempt, resume_from, _next_state, path = resumed.stdout.split()
    assert (attempt, resume_from, path) == ("2", "25", str(image))
    assert sdk.builds.get(build_id)["attempt"] == 2


SUPERSEDED_WORKER = """\
set -e
BUILD_UUID=$(cat build-info/uuid.txt)
eval "$(bldst build resume ${BUILD_UUID} --format env)"
bldst build add-state ${BUILD_UUID} --state 25 --status "Resumed Packer build" -o json | jq .attempt
bldst build resume ${BUILD_UUID} --force -o json | jq .attempt   # another worker takes over
set +e
bldst build add-state ${BUILD_UUID} --state 50 --status "Packer build completed"
echo "add-state exit $?"
bldst build add-failure ${BUILD_UUID} --state 50 --type PACKER_TIMEOUT --message "late"
echo "add-failure exit $?"
"""


def test_the_resume_pipeline_is_fenced_end_to_end(
    live_server: str, sdk: Client, tmp_path: Path
) -> None:
    """The worker of attempt 2, superseded by a forced resume, cannot report into attempt 3:
    BLDST_ATTEMPT, exported by resume, goes with its add-state and add-failure."""
    worker = Worker(tmp_path, live_server)
    assert worker.task(CREATE_BUILD_RECORD).returncode == 0
    build_id = worker.build_id
    failed = worker.bldst("build", "add-failure", build_id, "--state", "25", "--message", "x")
    assert failed.returncode == 0, failed.stderr
    run = worker.task(SUPERSEDED_WORKER)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["2", "3", "add-state exit 3", "add-failure exit 3"]
    stale = f"attempt 2 of build {build_id} is no longer current: the current attempt is 3"
    assert run.stderr.count(stale) == 2, run.stderr
    history = sdk.builds.state(build_id)["history"]
    assert [(h["attempt"], h["state_code"]) for h in history][-3:] == [(2, 0), (2, 25), (3, 0)]


def test_errors_and_output_contract(live_server: str, tmp_path: Path) -> None:
    worker = Worker(tmp_path, live_server)
    missing = worker.bldst("build", "get", "00000000-0000-0000-0000-000000000000", "-o", "json")
    assert missing.returncode == 3
    assert missing.stdout == ""
    assert missing.stderr.startswith("error: 404 ")
    assert "request id" in missing.stderr
    worker.env["BLDST_API_KEY"] = "wrong-key"
    denied = worker.bldst("platform", "list")
    assert denied.returncode == 3
    assert "error: 401" in denied.stderr
    worker.env["BLDST_API_URL"] = "http://127.0.0.1:9"
    worker.env["BLDST_RETRIES"] = "1"
    down = worker.bldst("health", "check")
    assert down.returncode == 4
    assert "cannot reach the server" in down.stderr
    assert "Traceback" not in down.stderr + denied.stderr + missing.stderr


def test_login_then_whoami(live_server: str, tmp_path: Path) -> None:
    worker = Worker(tmp_path, live_server)
    del worker.env["BLDST_API_KEY"]
    worker.env["BLDST_PASSWORD"] = "admin123"
    login = worker.bldst("auth", "login", "--username", "admin")
    assert login.returncode == 0, login.stderr
    me: dict[str, Any] = json.loads(worker.bldst("auth", "whoami", "-o", "json").stdout)
    assert me["username"] == "admin"
    assert json.loads(worker.bldst("auth", "status", "-o", "json").stdout)["method"] == "jwt"
    assert worker.bldst("auth", "logout").returncode == 0
    assert worker.bldst("auth", "whoami").returncode == 3  # no credential left: 401
