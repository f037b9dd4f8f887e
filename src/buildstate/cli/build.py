"""``bldst build``: create builds and report their states, failures and artifacts."""

import re
from typing import Annotated

import typer

from buildstate.cli import resume
from buildstate.cli.output import OutputOpt, emit
from buildstate.cli.params import AttemptOpt, BuildId, IdempotencyOpt, fenced_attempt
from buildstate.cli.session import api, json_option, key_values

app = typer.Typer(help="Create builds, report states and failures, resume.", no_args_is_help=True)
app.command("resume")(resume.resume)

BUILD_COLUMNS = [
    "id",
    "build_number",
    "status",
    "current_state",
    "attempt",
    "platform_id",
    "os_version_id",
    "image_type_id",
    "created_at",
]
FAILURE_COLUMNS = ["state_code", "failure_type", "error_message", "is_retryable", "timestamp"]
HISTORY_COLUMNS = ["state_code", "status", "attempt", "message", "timestamp", "duration_seconds"]
ARTIFACT_COLUMNS = [
    "state_code",
    "attempt",
    "is_checkpoint",
    "storage_type",
    "storage_path",
    "size_bytes",
    "checksum",
]

API_STATUSES = ("pending", "in_progress", "completed", "failed")
DONE_WORDS = re.compile(
    r"\b(complete|completed|success|successful|successfully|succeeded|done|finished)\b",
    re.IGNORECASE,
)

StateOpt = Annotated[int, typer.Option("--state", min=0, max=100, help="State code, 0-100.")]


def interpret_status(text: str | None) -> tuple[str, str | None]:
    """``--status`` as (API status, message).

    An API value (``in-progress`` too) is used as is. Anything else is free text, as in the
    README (``--status "Packer build completed successfully"``): it becomes the message,
    and the status is ``completed`` when the text says so, else ``in_progress``.
    """
    if text is None:
        return "in_progress", None
    value = re.sub(r"[\s-]+", "_", text.strip().lower())
    if value in API_STATUSES:
        return value, None
    return ("completed" if DONE_WORDS.search(text) else "in_progress"), text


@app.command("create")
def create(
    build_number: Annotated[str, typer.Option(help="Unique within the project.")],
    project_id: Annotated[str, typer.Option(help="See `bldst project list`.")],
    platform_id: Annotated[str, typer.Option(help="See `bldst platform list`.")],
    os_version_id: Annotated[str, typer.Option(help="See `bldst os-version list`.")],
    image_type_id: Annotated[str, typer.Option(help="See `bldst image-type list`.")],
    created_by: Annotated[str | None, typer.Option(help="Who or what started it.")] = None,
    concourse_url: Annotated[str | None, typer.Option(help="Link to the pipeline run.")] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="key=value; repeatable.", show_default=False)
    ] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    idempotency_key: IdempotencyOpt = None,
    output: OutputOpt = None,
) -> None:
    """Create a build record (status pending, state 0); prints it, including its id.

    Example:

      BUILD_UUID=$(bldst build create --build-number build-42 --project-id P \\
        --platform-id aws-commercial --os-version-id rhel-9.3 --image-type-id base \\
        --created-by concourse --label arch=x86_64 -o json | jq -r .id)
    """
    with api() as client:
        build = client.builds.create(
            project_id=project_id,
            platform_id=platform_id,
            os_version_id=os_version_id,
            image_type_id=image_type_id,
            build_number=build_number,
            created_by=created_by,
            concourse_url=concourse_url,
            labels=key_values(label, "--label"),
            build_metadata=json_option(metadata, "--metadata"),
            idempotency_key=idempotency_key,
        )
        emit(build, output)


@app.command("add-state")
def add_state(
    build_id: BuildId,
    state: StateOpt,
    status: Annotated[
        str | None,
        typer.Option(
            help="pending|in_progress|completed|failed, or free text (becomes the message; "
            "'completed' if it says complete/success/done/finished, else in_progress).",
            show_default=False,
        ),
    ] = None,
    message: Annotated[str | None, typer.Option(help="Human-readable message.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    artifact_path: Annotated[
        str | None, typer.Option(help="Checkpoint location (path or URI).")
    ] = None,
    artifact_type: Annotated[
        str | None, typer.Option(help="Storage type: s3, nfs, ebs, ceph, local, …")
    ] = None,
    artifact_size: Annotated[int | None, typer.Option(min=0, help="Size in bytes.")] = None,
    artifact_checksum: Annotated[
        str | None, typer.Option(help="sha256:<hex> or md5:<hex>.")
    ] = None,
    artifact_metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    attempt: AttemptOpt = None,
    idempotency_key: IdempotencyOpt = None,
    output: OutputOpt = None,
) -> None:
    """Report that a build reached a state, optionally with its checkpoint artifact.

    Examples:

      bldst build add-state $BUILD_UUID --state 25 --status "Packer build completed successfully"

      bldst build add-state $BUILD_UUID --state 50 --status in_progress --message "Ansible" \\
        --artifact-type s3 --artifact-path s3://b/k.qcow2 --artifact-checksum sha256:ab…

      eval "$(bldst build resume $BUILD_UUID --format env)"   # exports BLDST_ATTEMPT
      bldst build add-state $BUILD_UUID --state 50   # refused if another attempt took over
    """
    api_status, text = interpret_status(status)
    attempt = fenced_attempt(build_id, attempt)
    with api() as client:
        update = client.builds.add_state(
            build_id,
            state,
            api_status,
            message=message or text,
            metadata=json_option(metadata, "--metadata"),
            artifact_storage_type=artifact_type,
            artifact_storage_path=artifact_path,
            artifact_size_bytes=artifact_size,
            artifact_checksum=artifact_checksum,
            artifact_metadata=json_option(artifact_metadata, "--artifact-metadata"),
            attempt=attempt,
            idempotency_key=idempotency_key,
        )
        emit(update, output)


@app.command("add-failure")
def add_failure(
    build_id: BuildId,
    state: StateOpt,
    message: Annotated[str, typer.Option(help="What went wrong.")],
    failure_type: Annotated[
        str | None, typer.Option("--type", help="Category, e.g. PACKER_TIMEOUT.")
    ] = None,
    details: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    retryable: Annotated[
        bool, typer.Option("--retryable/--not-retryable", help="Can a resume fix it?")
    ] = True,
    attempt: AttemptOpt = None,
    idempotency_key: IdempotencyOpt = None,
    output: OutputOpt = None,
) -> None:
    """Record a failure at a state; the build becomes failed.

    Example:

      bldst build add-failure $BUILD_UUID --state 25 --type PACKER_TIMEOUT \\
        --message "AMI creation timeout after 3600 seconds" --details '{"exit_code": 1}'
    """
    attempt = fenced_attempt(build_id, attempt)
    with api() as client:
        failure = client.builds.add_failure(
            build_id,
            state,
            message,
            failure_type=failure_type,
            error_details=json_option(details, "--details"),
            is_retryable=retryable,
            attempt=attempt,
            idempotency_key=idempotency_key,
        )
        emit(failure, output)


@app.command("get")
def get(build_id: BuildId, output: OutputOpt = None) -> None:
    """Show a build with its failures.

    Example: bldst build get $BUILD_UUID -o json | jq -r .status
    """
    with api() as client:
        emit(client.builds.get(build_id), output, nested={"failures": FAILURE_COLUMNS})


@app.command("list")
def list_builds(
    limit: Annotated[int, typer.Option(min=1, help="Page size.")] = 20,
    skip: Annotated[int, typer.Option(min=0, help="Builds to skip.")] = 0,
    project_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[
        str | None, typer.Option(help="pending|in_progress|completed|failed|cancelled")
    ] = None,
    platform_id: Annotated[str | None, typer.Option()] = None,
    os_version_id: Annotated[str | None, typer.Option()] = None,
    image_type_id: Annotated[str | None, typer.Option()] = None,
    build_number: Annotated[str | None, typer.Option()] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="key=value; repeatable, all must match.")
    ] = None,
    created_after: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    created_before: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    output: OutputOpt = None,
) -> None:
    """List builds, newest first.

    Examples: bldst build list --limit 20 · bldst build list --status failed -o json
    """
    key_values(label, "--label")  # reject malformed labels before the request
    with api() as client:
        builds = client.builds.list(
            skip=skip,
            limit=limit,
            project_id=project_id,
            status=status.replace("-", "_") if status else None,
            platform_id=platform_id,
            os_version_id=os_version_id,
            image_type_id=image_type_id,
            build_number=build_number,
            labels=label,
            created_after=created_after,
            created_before=created_before,
        )
        emit(builds, output, columns=BUILD_COLUMNS)


@app.command("state")
def state(build_id: BuildId, output: OutputOpt = None) -> None:
    """Show a build's current state and its state history.

    Example: bldst build state $BUILD_UUID -o json | jq .current_state
    """
    with api() as client:
        emit(client.builds.state(build_id), output, nested={"history": HISTORY_COLUMNS})


@app.command("artifacts")
def artifacts(build_id: BuildId, output: OutputOpt = None) -> None:
    """List the artifacts (checkpoints) a build registered.

    Example: bldst build artifacts $BUILD_UUID
    """
    with api() as client:
        emit(client.builds.artifacts(build_id), output, columns=ARTIFACT_COLUMNS)


@app.command("cancel")
def cancel(
    build_id: BuildId,
    reason: Annotated[str | None, typer.Option(help="Why; kept with the build.")] = None,
    output: OutputOpt = None,
) -> None:
    """Cancel a build that is not finished (a finished one exits 3: conflict).

    Example: bldst build cancel $BUILD_UUID --reason "superseded by build-43"
    """
    with api() as client:
        emit(client.builds.cancel(build_id, reason=reason), output)
