from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from buildstate.server.catalog.schemas import Strict
from buildstate.server.validation import Kept, LongText, Name, StateCode


class StateCodeCreate(Strict):
    state_code: StateCode = Field(examples=[5])
    name: Name | None = Field(None, examples=["prepare"])
    description: LongText | None = Field(None, examples=["Preparing build environment"])
    is_blocking: bool = Field(
        False,
        description="A failure at a blocking state needs an explicit resume; "
        "a pipeline cannot simply retry past it.",
    )


class StateCodeUpdate(Strict):
    """Omit a field to keep its value; `null` clears the name or the description."""

    state_code: Kept[StateCode] = None
    name: Name | None = None
    description: LongText | None = None
    is_blocking: Kept[bool] = None


class StateCodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    project_id: str
    state_code: int
    name: str | None
    description: str | None
    is_blocking: bool
    created_at: datetime
