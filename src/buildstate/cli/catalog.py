"""CRUD command groups (platform, os-version, image-type, project, state-code, user, token)
built by one factory from a declarative description of each kind.

Each command is generated with an explicit ``inspect.Signature`` so Typer sees ordinary
typed options (``--name``, ``--region``, …) and help and shell completion work as for
hand-written commands.
"""

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from buildstate.cli.output import Exit, OutputOpt, emit, fail, note
from buildstate.cli.session import api

OPERATIONS = ("list", "get", "create", "update", "delete")


@dataclass(frozen=True)
class Field:
    """A body field with its command-line option."""

    name: str
    help: str
    type: type = str  # str, int, bool (a --flag/--no-flag pair) or list (repeatable)
    required: bool = False  # on create; every field is optional on update
    flag: str = ""  # default: --name-with-dashes
    secret: bool = False  # prompted (hidden, confirmed) on create when not given

    def option(self, *, creating: bool) -> tuple[Any, Any]:
        """(annotation, default) of this field's parameter."""
        flag = self.flag or "--" + self.name.replace("_", "-")
        required = creating and self.required
        if self.type is bool:
            info = typer.Option(flag, help=self.help, show_default=False)
            return Annotated[bool | None, info], None
        if self.type is list:
            info = typer.Option(flag, help=f"{self.help} Repeatable.", show_default=False)
            return Annotated[list[str] | None, info], None
        prompt = creating and self.secret
        info = typer.Option(
            flag,
            help=self.help,
            show_default=False,
            prompt=prompt,
            hide_input=self.secret,
            confirmation_prompt=prompt,
        )
        if required and not prompt:
            return Annotated[self.type, info], inspect.Parameter.empty
        return Annotated[self.type | None, info], None


@dataclass(frozen=True)
class Kind:
    command: str  # CLI group name, e.g. "os-version"
    accessor: str  # SDK namespace, e.g. "os_versions"
    help: str
    fields: tuple[Field, ...]
    columns: tuple[str, ...]
    example: str  # arguments of an example `create`
    scope: Field | None = None  # parent id every call needs (--project-id, --user-id)
    operations: tuple[str, ...] = OPERATIONS
    paging: bool = True  # list takes --skip/--limit
    soft_delete: bool = True  # list takes --include-deactivated

    @property
    def noun(self) -> str:
        return self.command.replace("-", " ")


SLUG = Field("id", "Explicit id (slug); generated when omitted.")
NAME = Field("name", "Name.", required=True)
DESCRIPTION = Field("description", "Description.")
SCOPES = Field("scopes", "Scope: read, write or admin.", list, flag="--scope")

KINDS = (
    Kind(
        "platform",
        "platforms",
        "Cloud platforms builds target (AWS, Azure, GCP, …).",
        (NAME, Field("cloud_provider", "aws, azure, gcp, …"), Field("region", "Region."), SLUG),
        ("id", "name", "cloud_provider", "region", "deactivated_at"),
        "--name aws-commercial --cloud-provider aws --region us-east-1",
    ),
    Kind(
        "os-version",
        "os_versions",
        "Operating system versions images are built from.",
        (NAME, Field("version", "Version, e.g. rhel-8.8.", required=True), SLUG),
        ("id", "name", "version", "deactivated_at"),
        '--name "Red Hat Enterprise Linux" --version rhel-8.8',
    ),
    Kind(
        "image-type",
        "image_types",
        "Image types (base, HANA, SAP app, …).",
        (NAME, DESCRIPTION, SLUG),
        ("id", "name", "description", "deactivated_at"),
        '--name base --description "Hardened base image"',
    ),
    Kind(
        "project",
        "projects",
        "Build projects; each may define its state codes.",
        (NAME, DESCRIPTION, SLUG),
        ("id", "name", "description", "deactivated_at"),
        '--name platform-images --description "Golden images"',
    ),
    Kind(
        "state-code",
        "state_codes",
        "State codes a project defines (the numbered steps of its builds).",
        (
            Field("state_code", "State code, 0-100.", int, required=True, flag="--code"),
            DESCRIPTION,
            Field(
                "is_blocking",
                "Whether a failure here blocks the build.",
                bool,
                flag="--blocking/--not-blocking",
            ),
        ),
        ("id", "state_code", "description", "is_blocking"),
        '--project-id $PROJECT_ID --code 25 --description "Packer build"',
        scope=Field("project_id", "The project.", required=True),
        paging=False,
        soft_delete=False,
    ),
    Kind(
        "user",
        "users",
        "User accounts (admin scope).",
        (
            Field("username", "Login name.", required=True),
            Field("password", "Password (prompted when omitted).", required=True, secret=True),
            Field("email", "E-mail address."),
            SCOPES,
            Field("is_active", "Enable or disable the account.", bool, flag="--active/--inactive"),
        ),
        ("id", "username", "email", "scopes", "is_active"),
        "--username ci-bot --email ci@example.com --scope read --scope write",
        soft_delete=False,
    ),
    Kind(
        "token",
        "tokens",
        "API tokens of a user (admin scope). The token is shown once, on create.",
        (
            Field("name", "What the token is for.", required=True),
            SCOPES,
            Field("expires_in_days", "Lifetime in days.", int),
        ),
        ("id", "name", "prefix", "scopes", "expires_at", "revoked_at"),
        '--user-id $USER_ID --name "Pipeline Token" --scope read --scope write',
        scope=Field("user_id", "The user.", required=True),
        operations=("list", "create", "delete"),
        paging=False,
        soft_delete=False,
    ),
)


def apps() -> dict[str, typer.Typer]:
    return {kind.command: make_app(kind) for kind in KINDS}


def make_app(kind: Kind) -> typer.Typer:
    group = typer.Typer(help=kind.help, no_args_is_help=True)
    builders: dict[str, Callable[[Kind], tuple[list[inspect.Parameter], Handler, str]]] = {
        "list": _list,
        "get": _get,
        "create": _create,
        "update": _update,
        "delete": _delete,
    }
    for operation in kind.operations:
        params, handler, doc = builders[operation](kind)
        _register(group, kind, operation, params, handler, doc)
    return group


Handler = Callable[[Any, list[str], dict[str, Any]], None]


def _register(
    group: typer.Typer,
    kind: Kind,
    operation: str,
    params: list[inspect.Parameter],
    handler: Handler,
    doc: str,
) -> None:
    scope = [_kw(kind.scope.name, *kind.scope.option(creating=True))] if kind.scope else []
    signature = inspect.Signature([*scope, *params])

    def command(**values: Any) -> None:
        parents = [values.pop(kind.scope.name)] if kind.scope else []
        with api() as client:
            handler(getattr(client, kind.accessor), parents, values)

    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = f"{kind.accessor}_{operation}"
    group.command(operation)(command)


def _kw(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _output() -> inspect.Parameter:
    return _kw("output", OutputOpt, None)


def _item_id(kind: Kind) -> inspect.Parameter:
    metavar = kind.command.replace("-", "_").upper() + "_ID"
    info = typer.Argument(help=f"The {kind.noun}'s id.", metavar=metavar, show_default=False)
    return _kw("item_id", Annotated[str, info])


def _scope_flag(kind: Kind) -> str:
    return (
        f" --{kind.scope.name.replace('_', '-')} ${kind.scope.name.upper()}" if kind.scope else ""
    )


def _list(kind: Kind) -> tuple[list[inspect.Parameter], Handler, str]:
    params = []
    if kind.paging:
        params += [
            _kw("limit", Annotated[int, typer.Option(min=1, help="Page size.")], 100),
            _kw("skip", Annotated[int, typer.Option(min=0, help="Items to skip.")], 0),
        ]
    if kind.soft_delete:
        info = typer.Option("--include-deactivated", help="Include soft-deleted ones.")
        params.append(_kw("include_deactivated", Annotated[bool, info], False))
    params.append(_output())

    def handler(ns: Any, parents: list[str], values: dict[str, Any]) -> None:
        output = values.pop("output")
        emit(ns.list(*parents, **values), output, columns=kind.columns)

    example = f"bldst {kind.command} list{_scope_flag(kind)} -o json | jq -r '.[].id'"
    return params, handler, f"List {kind.noun}s.\n\nExample: {example}"


def _get(kind: Kind) -> tuple[list[inspect.Parameter], Handler, str]:
    def handler(ns: Any, parents: list[str], values: dict[str, Any]) -> None:
        emit(ns.get(*parents, values["item_id"]), values["output"])

    example = f"bldst {kind.command} get{_scope_flag(kind)} ID"
    return [_item_id(kind), _output()], handler, f"Show one {kind.noun}.\n\nExample: {example}"


def _body_params(kind: Kind, *, creating: bool) -> list[inspect.Parameter]:
    fields = kind.fields if creating else [f for f in kind.fields if f.name != "id"]
    return [_kw(f.name, *f.option(creating=creating)) for f in fields]


def _body(kind: Kind, values: dict[str, Any]) -> dict[str, Any]:
    return {f.name: values[f.name] for f in kind.fields if values.get(f.name) is not None}


def _create(kind: Kind) -> tuple[list[inspect.Parameter], Handler, str]:
    def handler(ns: Any, parents: list[str], values: dict[str, Any]) -> None:
        created = ns.create(*parents, **_body(kind, values))
        emit(created, values["output"])
        if isinstance(created, dict) and created.get("token"):
            note("store the token now: it is not shown again")

    example = f"bldst {kind.command} create {kind.example}"
    params = [*_body_params(kind, creating=True), _output()]
    return params, handler, f"Create a {kind.noun}.\n\nExample: {example}"


def _update(kind: Kind) -> tuple[list[inspect.Parameter], Handler, str]:
    def handler(ns: Any, parents: list[str], values: dict[str, Any]) -> None:
        body = _body(kind, values)
        if not body:
            fail("nothing to update: give at least one option (see --help)", Exit.USAGE)
        emit(ns.update(*parents, values["item_id"], **body), values["output"])

    first = next(f for f in kind.fields if f.name != "id")
    flag = first.flag.split("/")[0] if first.flag else "--" + first.name.replace("_", "-")
    example = f"bldst {kind.command} update{_scope_flag(kind)} ID {flag} NEW"
    params = [_item_id(kind), *_body_params(kind, creating=False), _output()]
    return params, handler, f"Change a {kind.noun}.\n\nExample: {example}"


def _delete(kind: Kind) -> tuple[list[inspect.Parameter], Handler, str]:
    yes = _kw("yes", Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")], False)

    def handler(ns: Any, parents: list[str], values: dict[str, Any]) -> None:
        item_id = values["item_id"]
        if not values["yes"]:
            if not sys.stdin.isatty():
                fail("pass --yes to delete without a prompt", Exit.USAGE)
            typer.confirm(f"Delete {kind.noun} {item_id}?", abort=True)
        ns.delete(*parents, item_id)
        soft = " (soft delete: it stays readable, deactivated)" if kind.soft_delete else ""
        note(f"deleted {kind.noun} {item_id}{soft}")

    example = f"bldst {kind.command} delete{_scope_flag(kind)} ID --yes"
    return [_item_id(kind), yes], handler, f"Delete a {kind.noun}.\n\nExample: {example}"
