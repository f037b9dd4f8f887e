"""Input types shared by every feature's schemas.

Everything a client sends passes through these, so that the database never sees what it
cannot store: NUL characters and lone surrogates (PostgreSQL rejects both), integers
beyond 64 bits, unbounded strings, or JSON nested deeper than anyone means. What a build
carries besides its fields is bounded in bytes too: its metadata and labels come back in
every list of builds, and a build's metadata is a handful of identifiers (a commit, a
pipeline URL, image ids), not a log.

Every text field, parameter and header of every operation is :data:`STORABLE`;
``tests/server/test_text_fields.py`` walks the OpenAPI schema to check that none forgets.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Form, Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, core_schema

MAX_JSON_DEPTH = 16
# As compact JSON in UTF-8 (what orjson writes): build_metadata, a state report's
# metadata and artifact_metadata, a failure's error_details; and a build's labels.
MAX_METADATA_BYTES = 16 * 1024
MAX_LABELS_BYTES = 8 * 1024
MAX_JSON_INT = 2**53  # what every JSON consumer (jq, JavaScript) reads exactly
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# The rule as OpenAPI states it, for clients and schemathesis: no NUL. Lone surrogates are
# refused too, but a pattern cannot say so portably (schemathesis's and other regex engines
# reject a surrogate range); JSON is the only way to send one, and that is tested.
STORABLE_PATTERN = r"^[^\x00]*$"


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


class _Storable:
    """Refuses NUL characters and lone surrogates with a 422 that says so, and states the
    NUL rule in the JSON schema as ``pattern`` (unless the type has a narrower one)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_storable, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", STORABLE_PATTERN)
        return json_schema


STORABLE = _Storable()


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("contains NaN or Infinity, which JSON does not allow")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_JSON_INT:
            raise ValueError(f"contains an integer beyond ±2^53 ({MAX_JSON_INT})")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    _check_json(value)
    return _at_most(value, MAX_METADATA_BYTES)


def _labels(value: dict[str, str]) -> dict[str, str]:
    return _at_most(value, MAX_LABELS_BYTES)


def _at_most(value: dict[str, Any], limit: int) -> dict[str, Any]:
    size = len(orjson.dumps(value))
    if size > limit:
        raise ValueError(
            f"is {size} bytes as compact JSON; at most {limit} ({limit // 1024} KiB) are accepted"
        )
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), STORABLE
]
ShortText = Annotated[str, StringConstraints(max_length=255), STORABLE]
LongText = Annotated[str, StringConstraints(max_length=10_000), STORABLE]
# Passwords are hashed, never stored, but a lone surrogate cannot even be hashed.
Password = Annotated[str, StringConstraints(max_length=1024), STORABLE]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN), STORABLE]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_json_object),
    Field(
        description=f"A JSON object of at most {MAX_METADATA_BYTES // 1024} KiB as compact "
        f"JSON (UTF-8), nested at most {MAX_JSON_DEPTH} levels."
    ),
]
StringMap = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=63), STORABLE],
        Annotated[str, StringConstraints(max_length=255), STORABLE],
    ],
    Field(
        max_length=64,
        description="At most 64 pairs, keys of 1–63 characters, values of up to 255, "
        f"{MAX_LABELS_BYTES // 1024} KiB in all as compact JSON (UTF-8).",
    ),
    AfterValidator(_labels),
]
BigCount = Annotated[int, Field(ge=0, le=2**63 - 1)]


def _integral(value: Any) -> Any:
    # JSON Schema's integer is any number without a fractional part: 77.0 is one. Other
    # floats, and booleans and strings, are left to StrictInt to refuse.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StateCode = Annotated[
    StrictInt, Field(ge=0, le=100, description="State code, 0–100."), BeforeValidator(_integral)
]

_Value = TypeVar("_Value")


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("cannot be null: omit it to keep the current value")
    return value


Kept = Annotated[_Value | SkipJsonSchema[None], BeforeValidator(_not_null)]
"""An update's field that cannot be cleared: omitted, it is ``None`` (keep the current
value); ``null`` is refused, and the schema does not offer it."""

# Query parameters.
Skip = Annotated[int, Query(ge=0, le=2**31 - 1, description="Records to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Records to return, at most 1000.")]
IncludeDeactivated = Annotated[bool, Query(description="Include soft-deleted records.")]
PathId = Annotated[str, Path(max_length=200), STORABLE]
QueryText = Annotated[str, Query(max_length=255), STORABLE]
# Form fields (`POST /token`).
FormText = Annotated[str, Form(min_length=1, max_length=255), STORABLE]
FormPassword = Annotated[str, Form(min_length=1, max_length=1024), STORABLE]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc


_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_moment(value: Any) -> Any:
    # Pydantic would also read a number of seconds since the epoch ("0.5") as a moment.
    if not (isinstance(value, str) and _MOMENT.match(value)):
        raise ValueError("must be an ISO 8601 date-time with a timezone, e.g. 2024-02-01T12:00:00Z")
    return value


# A moment in a query: an ISO 8601 date-time with a timezone, representable in UTC.
QueryMoment = Annotated[AwareDatetime, BeforeValidator(_iso_moment), AfterValidator(_utc)]
