"""Model objects used as plain records (``db.rows.record``) behave as constructed ones."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session

from buildstate.server.builds.models import BuildState
from buildstate.server.db.rows import _columns, record, update_row


def test_a_record_holds_what_the_constructor_would() -> None:
    values = {"build_id": "b", "attempt": 2, "state_code": 40, "status": "completed"}
    made, constructed = record(BuildState, **values), BuildState(**values)
    for name in ("build_id", "attempt", "state_code", "status", "message", "id"):
        assert getattr(made, name) == getattr(constructed, name)
    assert inspect(made).transient
    assert _columns(made) == _columns(constructed) == values


def test_a_record_reads_and_writes_columns_by_attribute_name() -> None:
    state = record(BuildState, build_id="b", state_metadata={"k": "v"})
    assert _columns(state) == {"build_id": "b", "metadata": {"k": "v"}}
    state.message = "changed"
    assert _columns(state) == {"build_id": "b", "metadata": {"k": "v"}, "message": "changed"}


def test_an_unknown_attribute_is_an_error_as_with_the_constructor() -> None:
    with pytest.raises(TypeError, match="BuildState has no column attribute metadata, nope"):
        record(BuildState, build_id="b", metadata={}, nope=1)


def test_an_update_of_an_unknown_attribute_is_refused_before_any_statement() -> None:
    state = record(BuildState, id=1, build_id="b", message="before")
    with Session(create_engine("sqlite://")) as session, pytest.raises(TypeError, match="nope"):
        update_row(session, state, message="after", nope=1)
    assert state.message == "before"
