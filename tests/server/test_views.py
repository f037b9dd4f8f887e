"""A page of builds is built as JSON by the database (``views.build_json``), one build by
Python (``views.build_fields``): the two must be equal as JSON, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from buildstate.server.builds import views
from buildstate.server.builds.models import Build
from buildstate.server.builds.repository import BuildFilters, BuildRepository
from buildstate.server.builds.statemachine import BuildStatus
from buildstate.server.catalog.models import ImageType, OsVersion, Platform
from buildstate.server.db.database import create_database
from buildstate.server.projects.models import Project
from buildstate.server.settings import Settings

MOMENT = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
# Whole seconds, whole and half milliseconds, and any microsecond: where rounding differs.
offsets = st.one_of(
    st.integers(0, 10**6).map(lambda s: timedelta(seconds=s)),
    st.integers(0, 10**7).map(lambda ms: timedelta(microseconds=ms * 500)),
    st.integers(0, 10**12).map(lambda us: timedelta(microseconds=us)),
)
moments = offsets.map(lambda offset: MOMENT + offset)
# What the API accepts (see validation.py): no NUL, no lone surrogate, no NaN or
# Infinity, no integer beyond 2^53.
text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
json_values = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text
_numbers = itertools.count()
# How far views.build_json_bytes may reckon a build above the bytes written (bytes).
SIZE_SLACK = 768


@pytest.fixture
def database(settings: Settings) -> Iterator[Engine]:
    """The real schema, emptied, with the catalog entries every build here names; the
    server's engine (it decides how JSON columns are read)."""
    db = create_database(settings)
    engine = db.writer
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                Project(id="p", name="p"),
                Platform(id="x", name="x"),
                OsVersion(id="o", name="o", version="1"),
                ImageType(id="i", name="i"),
            ]
        )
    yield engine
    db.close()


def _page(session: Session, number: str, now: datetime) -> tuple[object, object]:
    page = BuildRepository(session).search_json(BuildFilters(build_number=number), 0, 10, now)
    by_database = orjson.loads(page.body)
    table = Build.__table__
    rows = session.execute(select(table).where(table.c.build_number == number)).all()
    by_python = orjson.loads(views.to_json([views.build_fields(r, now) for r in rows]))
    return by_database, by_python


@examples(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from(list(BuildStatus)),
    created=moments,
    started=st.none() | moments,
    finished=st.none() | moments,
    now=moments,
    labels=st.dictionaries(text, text, max_size=3),
    metadata=st.dictionaries(text, json_values),
    created_by=st.none() | text,
)
def test_database_json_matches_build_fields(
    database: Engine,
    status: BuildStatus,
    created: datetime,
    started: datetime | None,
    finished: datetime | None,
    now: datetime,
    labels: dict[str, str],
    metadata: dict[str, object],
    created_by: str | None,
) -> None:
    number = f"n{next(_numbers)}"
    build = _build(number, status, created, started, finished)
    build.labels, build.build_metadata, build.created_by = labels, metadata, created_by
    with Session(database) as session, session.begin():
        session.execute(Build.__table__.insert(), [_columns(build)])
    with Session(database) as session:
        by_database, by_python = _page(session, number, now)
    assert by_database == by_python


def _build(
    number: str,
    status: BuildStatus,
    created: datetime,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> Build:
    return Build(
        id=f"b-{number}",
        project_id="p",
        platform_id="x",
        os_version_id="o",
        image_type_id="i",
        build_number=number,
        status=status,
        current_state=35,
        attempt=2,
        created_by=None,
        concourse_url=None,
        labels={},
        build_metadata={},
        created_at=created,
        updated_at=created,
        started_at=started,
        finished_at=finished,
    )


def _columns(build: Build) -> dict[str, object]:
    return {c.key: getattr(build, a.key) for a in Build.__mapper__.column_attrs for c in a.columns}


def test_half_milliseconds_round_up_and_durations_are_never_negative() -> None:
    start = MOMENT + timedelta(microseconds=250)
    assert views._seconds(start, start + timedelta(microseconds=1500)) == 0.002
    assert views._seconds(start, start + timedelta(microseconds=1499)) == 0.001
    assert views._seconds(start, start - timedelta(seconds=3)) == 0.0


def _insert(database: Engine, rows: list[Build]) -> list[str]:
    """``rows`` stored; their ids in the list's order (newest first)."""
    with Session(database) as session, session.begin():
        session.execute(Build.__table__.insert(), [_columns(b) for b in rows])
    return [b.id for b in sorted(rows, key=lambda b: (b.created_at, b.id), reverse=True)]


def test_a_page_built_by_the_database_keeps_the_order_of_the_list(database: Engine) -> None:
    rows = [
        _build(f"order-{i}", BuildStatus.pending, MOMENT + timedelta(seconds=i % 7))
        for i in range(60)
    ]
    in_order = _insert(database, rows)
    only = BuildFilters(status=BuildStatus.pending)
    with Session(database) as session:
        repo = BuildRepository(session)
        page = repo.search_json(only, 5, 30, MOMENT)
        assert [b["id"] for b in orjson.loads(page.body)] == in_order[5:35]
        assert (page.builds, page.cut) == (30, False)
        empty = repo.search_json(BuildFilters(build_number="none"), 0, 10, MOMENT)
        assert empty == (b"[]", 0, False)


def test_a_page_stops_at_its_byte_budget_and_continues_where_it_stopped(
    database: Engine,
) -> None:
    rows = []
    for i in range(40):
        row = _build(f"budget-{i}", BuildStatus.completed, MOMENT + timedelta(seconds=i))
        # Sizes that differ (and non-ASCII text, whose bytes outnumber its characters).
        row.build_metadata = {"log": "é" * (100 * (i % 5))}
        rows.append(row)
    in_order = _insert(database, rows)
    only = BuildFilters(status=BuildStatus.completed)
    budget = 4000
    with Session(database) as session:
        repo = BuildRepository(session)
        seen: list[str] = []
        while len(seen) < 40:
            page = repo.search_json(only, len(seen), 40 - len(seen), MOMENT, budget)
            listed = orjson.loads(page.body)
            assert len(page.body) <= budget
            assert page.builds == len(listed) > 0
            assert page.cut == (len(seen) + len(listed) < 40)
            if page.cut:  # stopped because the next build would not have fitted: its
                # size is reckoned from its columns, a little above the JSON written
                following = repo.search_json(only, len(seen) + len(listed), 1, MOMENT)
                slack = SIZE_SLACK * (len(listed) + 1)
                assert len(page.body) + len(following.body) - 1 > budget - slack
            seen += [b["id"] for b in listed]
    assert seen == in_order


def test_the_first_build_of_a_page_is_listed_whatever_it_weighs(database: Engine) -> None:
    heavy = _build("heavy", BuildStatus.failed, MOMENT)
    heavy.build_metadata = {"log": "x" * 50_000}  # as stored before input was bounded
    light = _build("light", BuildStatus.failed, MOMENT - timedelta(seconds=1))
    _insert(database, [heavy, light])
    only = BuildFilters(status=BuildStatus.failed)
    with Session(database) as session:
        page = BuildRepository(session).search_json(only, 0, 10, MOMENT, 1000)
    assert [b["id"] for b in orjson.loads(page.body)] == ["b-heavy"]
    assert (page.builds, page.cut) == (1, True)
