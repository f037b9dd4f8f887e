"""``bldst build resume``: restart a failed build from its last good checkpoint.

``--format env`` prints ``export BLDST_…=…`` lines for ``eval`` in a pipeline step (among
them ``BLDST_ATTEMPT``, which ``add-state`` and ``add-failure`` then send, so that the
server refuses their reports once another attempt takes over), and ``--verify`` refuses
to resume unless a local checkpoint file is present and intact.
"""

from __future__ import annotations

import re
import shlex
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlparse

import typer

from buildstate.cli.output import Exit, Output, chosen, emit, fail, note
from buildstate.cli.params import BuildId, IdempotencyOpt
from buildstate.cli.session import api

if TYPE_CHECKING:
    from buildstate.client.types import Artifact, ResumePlan

LOCAL_STORAGE = ("local", "nfs", "file")
CHECKSUM_ALGORITHMS = ("sha256", "md5")


class ResumeOutput(StrEnum):
    table = "table"
    json = "json"
    env = "env"


class CheckpointError(Exception):
    """The checkpoint cannot be trusted; the message says why."""


def local_path(artifact: Artifact) -> Path | None:
    """Where a checkpoint lives on this machine, or None if it is remote (s3, ebs, …)."""
    location = artifact.get("storage_path") or ""
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    if artifact.get("storage_type") in LOCAL_STORAGE or location.startswith("/"):
        return Path(location)
    return None


def parse_checksum(value: str) -> tuple[str, str]:
    """``sha256:<hex>``, ``md5:<hex>`` or bare hex (sha256) as (algorithm, hex digest)."""
    algorithm, sep, digest = value.strip().partition(":")
    if not sep:
        algorithm, digest = "sha256", value.strip()
    algorithm, digest = algorithm.lower(), digest.lower()
    if algorithm not in CHECKSUM_ALGORITHMS or not re.fullmatch(r"[0-9a-f]+", digest):
        raise CheckpointError(
            f"cannot check checksum {value!r}: expected sha256:<hex>, md5:<hex> or sha256 hex"
        )
    return algorithm, digest


def verify_checkpoint(artifact: Artifact) -> str:
    """Check that the checkpoint file exists with the recorded size and checksum.

    Returns what was checked; raises ``CheckpointError`` when it cannot be trusted."""
    path = local_path(artifact)
    if path is None:
        raise CheckpointError(
            f"cannot verify {artifact.get('storage_type') or 'remote'} checkpoint "
            f"{artifact.get('storage_path')!r} here: --verify checks local, nfs and file:// "
            "checkpoints; resume without --verify to trust it"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; resume from an earlier state")
    checked = ["present"]
    expected_size = artifact.get("size_bytes")
    if expected_size is not None:
        size = path.stat().st_size
        if size != expected_size:
            raise CheckpointError(
                f"checkpoint {path} is {size} bytes, {expected_size} were recorded"
            )
        checked.append("size")
    if artifact.get("checksum"):
        import hashlib

        algorithm, expected = parse_checksum(str(artifact["checksum"]))
        with path.open("rb") as handle:
            actual = hashlib.file_digest(handle, algorithm).hexdigest()
        if actual != expected:
            raise CheckpointError(
                f"checkpoint {path} {algorithm} is {actual}, {expected} was recorded"
            )
        checked.append(algorithm)
    return f"checkpoint {path} verified: {', '.join(checked)}"


def env_lines(plan: ResumePlan) -> str:
    """The plan as ``export`` lines a shell can ``eval`` (values shell-quoted)."""
    checkpoint: Artifact = plan.get("checkpoint") or {}
    values: dict[str, Any] = {
        "BLDST_BUILD_ID": plan.get("build_id"),
        "BLDST_CAN_RESUME": plan.get("can_resume"),
        "BLDST_ATTEMPT": plan.get("attempt"),
        "BLDST_RESUME_FROM_STATE": plan.get("resume_from_state"),
        "BLDST_NEXT_STATE": plan.get("next_state"),
        "BLDST_CHECKPOINT_PATH": checkpoint.get("storage_path"),
        "BLDST_CHECKPOINT_TYPE": checkpoint.get("storage_type"),
        "BLDST_CHECKPOINT_SIZE": checkpoint.get("size_bytes"),
        "BLDST_CHECKPOINT_CHECKSUM": checkpoint.get("checksum"),
        "BLDST_SKIPPED_STATES": " ".join(str(s) for s in plan.get("skipped_states") or []),
    }
    return "".join(f"export {name}={shlex.quote(_shell(v))}\n" for name, v in values.items())


def _shell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flat(plan: ResumePlan) -> dict[str, Any]:
    """The plan for a table: the checkpoint's fields inline instead of a JSON blob."""
    flat: dict[str, Any] = {k: v for k, v in plan.items() if k != "checkpoint"}
    checkpoint: Artifact = plan.get("checkpoint") or {}
    for key in ("storage_type", "storage_path", "size_bytes", "checksum"):
        flat[f"checkpoint_{key}"] = checkpoint.get(key)
    return flat


def resume(
    build_id: BuildId,
    from_state: Annotated[
        int | None,
        typer.Option(min=0, max=100, help="Resume from this state instead of the last checkpoint."),
    ] = None,
    message: Annotated[str | None, typer.Option(help="Recorded with the new attempt.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Resume even though the current attempt is live (in progress and recently "
            "active; the server refuses otherwise, exit 3): its worker's further reports "
            "are refused.",
        ),
    ] = False,
    expected_attempt: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Resume only if the current attempt is this one (exit 3 otherwise): a "
            "re-run of this step never starts a second attempt.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show where a resume would start.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Refuse (exit 6) unless the local/nfs/file:// checkpoint exists and matches "
            "its recorded size and checksum.",
        ),
    ] = False,
    output: Annotated[
        ResumeOutput | None,
        typer.Option(
            "--output",
            "-o",
            "--format",
            help="table, json, or env (export BLDST_… lines for eval).",
            show_default=False,
        ),
    ] = None,
    idempotency_key: IdempotencyOpt = None,
) -> None:
    """Start a new attempt of a failed build from its last good checkpoint.

    Examples:

      bldst build resume $BUILD_UUID --dry-run

      eval "$(bldst build resume $BUILD_UUID --verify --format env)"
      packer build -var "source_image=$BLDST_CHECKPOINT_PATH" …   # from $BLDST_NEXT_STATE
      bldst build add-state $BUILD_UUID --state 50   # fenced: sends $BLDST_ATTEMPT

      bldst build resume $BUILD_UUID --from-state 25 --message "retry after quota fix"
    """
    with api() as client:
        plan = None
        if dry_run or verify:
            plan = client.builds.resume_plan(build_id, from_state=from_state)
        if verify and plan is not None:
            _verify(plan)
        if not dry_run:
            plan = client.builds.resume(
                build_id,
                from_state=from_state,
                message=message,
                force=force,
                expected_attempt=expected_attempt,
                idempotency_key=idempotency_key,
            )
    assert plan is not None
    fmt = output or ResumeOutput(chosen(None).value)
    if fmt is ResumeOutput.env:
        typer.echo(env_lines(plan), nl=False)
    elif fmt is ResumeOutput.json:
        emit(plan, Output.json)
    else:
        emit(_flat(plan), Output.table)


def _verify(plan: ResumePlan) -> None:
    checkpoint = plan.get("checkpoint")
    if not checkpoint:
        note("no checkpoint to verify: the build restarts from the beginning")
        return
    try:
        note(verify_checkpoint(checkpoint))
    except CheckpointError as exc:
        fail(f"refusing to resume build {plan.get('build_id')}: {exc}", Exit.VERIFY)
