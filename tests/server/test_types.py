"""Column types behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from buildstate.server.db.types import UTCDateTime

MOMENTS = [
    datetime(2026, 11, 22, 18, 30, 1, 123456, tzinfo=UTC),
    datetime(2026, 11, 22, 18, 30, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 11, 23, 1, 30, tzinfo=timezone(timedelta(hours=7))),  # the day before in UTC
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a three-digit year, zero-padded
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_sqlite_stores_a_moment_as_sqlalchemy_would_in_utc(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    sqlalchemy = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert sqlalchemy is not None
    stored = ours(moment)
    assert stored == sqlalchemy(moment.astimezone(UTC).replace(tzinfo=None))
    assert UTCDateTime().result_processor(dialect, None)(stored) == moment


def test_sqlite_refuses_a_naive_moment() -> None:
    process = UTCDateTime().bind_processor(sqlite.dialect())
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2026, 1, 1))
    assert process(None) is None
