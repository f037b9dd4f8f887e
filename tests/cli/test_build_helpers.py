"""`--status` inference, `resume --format env` output and checkpoint verification."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from buildstate.cli.build import interpret_status
from buildstate.cli.resume import CheckpointError, env_lines, parse_checksum, verify_checkpoint


@pytest.mark.parametrize(
    ("given", "status", "message"),
    [
        (None, "in_progress", None),
        ("completed", "completed", None),
        ("In-Progress", "in_progress", None),
        ("in progress", "in_progress", None),
        ("failed", "failed", None),
        ("pending", "pending", None),
        ("Packer build completed successfully", "completed", "Packer build completed successfully"),
        ("Packer validation complete", "completed", "Packer validation complete"),
        ("Build completed successfully", "completed", "Build completed successfully"),
        ("Smoke tests succeeded", "completed", "Smoke tests succeeded"),
        ("Upload done", "completed", "Upload done"),
        ("Ansible finished", "completed", "Ansible finished"),
        ("Success", "completed", "Success"),
        ("Starting preparation", "in_progress", "Starting preparation"),
        ("Ansible configuration running", "in_progress", "Ansible configuration running"),
        ("Preparing build environment", "in_progress", "Preparing build environment"),
        ("Running Packer build", "in_progress", "Running Packer build"),
        ("Incomplete download, retrying", "in_progress", "Incomplete download, retrying"),
    ],
)
def test_status_inference(given: str | None, status: str, message: str | None) -> None:
    assert interpret_status(given) == (status, message)


PLAN: dict[str, Any] = {
    "build_id": "b-1",
    "status": "in_progress",
    "attempt": 2,
    "can_resume": True,
    "resume_from_state": 25,
    "next_state": 50,
    "skipped_states": [0, 10, 25],
    "checkpoint": {
        "storage_type": "s3",
        "storage_path": "s3://bucket/it's here/$(rm -rf ~).qcow2",
        "size_bytes": 2147483648,
        "checksum": "sha256:abc",
    },
}


def test_env_lines_are_quoted_and_eval_safe(tmp_path: Path) -> None:
    text = env_lines(PLAN)  # type: ignore[arg-type]
    assert text.splitlines()[0] == "export BLDST_BUILD_ID=b-1"
    assert "export BLDST_SKIPPED_STATES='0 10 25'" in text
    script = (
        text + 'printf "%s|" "$BLDST_ATTEMPT" "$BLDST_RESUME_FROM_STATE" "$BLDST_NEXT_STATE" '
        '"$BLDST_CHECKPOINT_PATH" "$BLDST_CHECKPOINT_TYPE" "$BLDST_CHECKPOINT_SIZE" '
        '"$BLDST_CHECKPOINT_CHECKSUM" "$BLDST_SKIPPED_STATES" "$BLDST_CAN_RESUME"'
    )
    out = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout == (
        "2|25|50|s3://bucket/it's here/$(rm -rf ~).qcow2|s3|2147483648|sha256:abc|0 10 25|true|"
    )


def test_env_lines_without_checkpoint() -> None:
    text = env_lines(
        {
            "build_id": "b",
            "can_resume": False,
            "checkpoint": None,
            "resume_from_state": None,
            "skipped_states": [],
        }
    )
    assert "export BLDST_CHECKPOINT_PATH=''\n" in text
    assert "export BLDST_CAN_RESUME=false\n" in text
    assert "export BLDST_RESUME_FROM_STATE=''\n" in text


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "state-25.qcow2"
    path.write_bytes(b"qcow2-bytes" * 1000)
    return path


def checkpoint(path: Path | str, **extra: Any) -> Any:
    return {"storage_type": "local", "storage_path": str(path), **extra}


@pytest.mark.parametrize("form", ["sha256:{sha}", "SHA256:{sha}", "{sha}", "md5:{md5}"])
def test_verify_accepts_matching_checksum(image: Path, form: str) -> None:
    data = image.read_bytes()
    checksum = form.format(sha=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest())  # noqa: S324
    result = verify_checkpoint(checkpoint(image, size_bytes=len(data), checksum=checksum))
    assert result.startswith(f"checkpoint {image} verified: present, size, ")


def test_verify_nfs_and_file_uri(image: Path) -> None:
    assert "verified" in verify_checkpoint({"storage_type": "nfs", "storage_path": str(image)})
    uri = {"storage_type": None, "storage_path": image.as_uri()}
    assert verify_checkpoint(uri) == f"checkpoint {image} verified: present"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"checksum": "sha256:" + "0" * 64}, "sha256 is"),
        ({"checksum": "md5:" + "0" * 32}, "md5 is"),
        ({"size_bytes": 1}, "is 11000 bytes, 1 were recorded"),
        ({"checksum": "crc32:1234"}, "cannot check checksum"),
    ],
)
def test_verify_refuses_mismatch(image: Path, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(checkpoint(image, **extra))


def test_verify_refuses_missing_file_and_remote_storage(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        verify_checkpoint(checkpoint(tmp_path / "gone.qcow2"))
    with pytest.raises(CheckpointError, match="cannot verify s3 checkpoint"):
        verify_checkpoint({"storage_type": "s3", "storage_path": "s3://b/k"})


def test_parse_checksum_defaults_to_sha256() -> None:
    assert parse_checksum("ABCDEF") == ("sha256", "abcdef")
    assert parse_checksum("md5:AB") == ("md5", "ab")
