"""Request and response bodies of the catalog resources."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from buildstate.server.validation import Kept, LongText, Name, ShortText, Slug


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None


class _Create(Strict):
    id: Slug | None = Field(None, description="Readable id; generated when omitted.")
    name: Name


class PlatformCreate(_Create):
    """A platform's id defaults to the slug of its name (`aws-us-east-1`)."""

    cloud_provider: ShortText | None = Field(None, examples=["aws"])
    region: ShortText | None = Field(None, examples=["us-east-1"])


class PlatformUpdate(Strict):
    """Omit a field to keep its value; `null` clears what can be cleared."""

    name: Kept[Name] = None
    cloud_provider: ShortText | None = None
    region: ShortText | None = None


class PlatformRead(EntryRead):
    cloud_provider: str | None
    region: str | None


class OsVersionCreate(_Create):
    version: Name = Field(examples=["9.3"])


class OsVersionUpdate(Strict):
    """Omit a field to keep its value."""

    name: Kept[Name] = None
    version: Kept[Name] = None


class OsVersionRead(EntryRead):
    version: str


class DescribedCreate(_Create):
    description: LongText | None = None


class DescribedUpdate(Strict):
    """Omit a field to keep its value; `null` clears the description."""

    name: Kept[Name] = None
    description: LongText | None = None


class DescribedRead(EntryRead):
    description: str | None
