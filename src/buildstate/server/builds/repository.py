"""Every query on builds, their history, artifacts, failures and counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    CTE,
    BindParameter,
    Integer,
    Label,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from buildstate.server.builds.models import (
    Build,
    BuildArtifact,
    BuildCounter,
    BuildFailure,
    BuildLabel,
    BuildProjectCounter,
    BuildState,
)
from buildstate.server.builds.views import Page, build_json, build_json_bytes
from buildstate.server.catalog.crud import CatalogSpec
from buildstate.server.catalog.resources import IMAGE_TYPES, OS_VERSIONS, PLATFORMS, PROJECTS
from buildstate.server.db.base import Base
from buildstate.server.db.prepared import Prepared
from buildstate.server.db.rows import insert_row, record, update_row
from buildstate.server.db.session import dialect_of
from buildstate.server.db.sql import SQL_DIALECTS, SqlDialect
from buildstate.server.db.types import UTCDateTime
from buildstate.server.projects.models import StateCodeDefinition

_Q = TypeVar("_Q", bound=Select[Any])
# The most bytes in a page of builds (a hundred at the largest labels and metadata
# accepted fit), unless its first build alone weighs more (one stored before
# validation.py bounded metadata).
PAGE_BYTES = 4 * 1024 * 1024
# Reads select from the tables (Core rows, no ORM objects): several times cheaper per row.
_BUILDS = Build.__table__
_FAILURES = BuildFailure.__table__
_STATES = BuildState.__table__
_COUNTERS = cast(Table, BuildCounter.__table__)
_PROJECT_COUNTERS = cast(Table, BuildProjectCounter.__table__)
_CODES = StateCodeDefinition.__table__
_LABELS = BuildLabel.__table__

# The statements of the hot paths, compiled once and run on the driver (see Prepared).
_BUILD_BY_ID = select(_BUILDS).where(_BUILDS.c.id == bindparam("build_id"))
_BUILD = Prepared(_BUILD_BY_ID)
_BUILD_FOR_UPDATE = Prepared(_BUILD_BY_ID.with_for_update())
_FAILURES_OF = Prepared(
    select(_FAILURES).where(_FAILURES.c.build_id == bindparam("build_id")).order_by(_FAILURES.c.id)
)
_LAST_STATE_STATUS = Prepared(
    select(_STATES.c.status)
    .where(_STATES.c.build_id == bindparam("build_id"))
    .order_by(_STATES.c.id.desc())
    .limit(1)
)
_PROJECT_CODES = Prepared(
    select(_CODES.c.state_code, _CODES.c.is_blocking).where(
        _CODES.c.project_id == bindparam("project_id")
    )
)


def _bumps(sql: SqlDialect) -> tuple[tuple[Prepared, str], ...]:
    """``count += delta`` on a build's counters, (platform, status) and (project, status),
    each row made if missing: the upserts and the key each needs."""
    return tuple(
        (Prepared(sql.upsert_counter(table, (key, "status"), "count")), key)
        for table, key in ((_COUNTERS, "platform_id"), (_PROJECT_COUNTERS, "project_id"))
    )


_BUMPS = {name: _bumps(sql) for name, sql in SQL_DIALECTS.items()}  # by dialect name
_COUNTS_QUERY = select(_COUNTERS.c.status, func.sum(_COUNTERS.c.count).label("count")).group_by(
    _COUNTERS.c.status
)
_COUNTS = Prepared(_COUNTS_QUERY)
_PLATFORM_COUNTS = Prepared(
    _COUNTS_QUERY.where(_COUNTERS.c.platform_id == bindparam("platform_id"))
)
_PROJECT_COUNTS = Prepared(
    select(_PROJECT_COUNTERS.c.status, _PROJECT_COUNTERS.c["count"]).where(
        _PROJECT_COUNTERS.c.project_id == bindparam("project_id")
    )
)
# The catalog entries a build refers to, by the build's field.
REFERENCES = (
    ("project_id", PROJECTS),
    ("platform_id", PLATFORMS),
    ("os_version_id", OS_VERSIONS),
    ("image_type_id", IMAGE_TYPES),
)


def _active_flag(spec: CatalogSpec, field: str) -> Label[bool]:
    """1 if the entry ``field`` names is active, 0 if deactivated, NULL if there is none."""
    table = spec.model.__table__
    found = table.c.id == bindparam(field)
    return select(table.c.deactivated_at.is_(None)).where(found).scalar_subquery().label(field)


_REFERENCES = Prepared(select(*(_active_flag(spec, field) for field, spec in REFERENCES)))
_NUMBER_TAKEN = Prepared(
    select(_BUILDS.c.id).where(
        _BUILDS.c.project_id == bindparam("project_id"),
        _BUILDS.c.build_number == bindparam("build_number"),
    )
)


@dataclass(frozen=True)
class BuildFilters:
    project_id: str | None = None
    status: str | None = None
    platform_id: str | None = None
    os_version_id: str | None = None
    image_type_id: str | None = None
    build_number: str | None = None
    labels: Sequence[tuple[str, str]] = field(default_factory=tuple)
    created_after: datetime | None = None
    created_before: datetime | None = None

    @property
    def counted(self) -> bool:
        """Whether counters give the total: filters on status and on at most one of
        platform and project, nothing else (see :meth:`BuildRepository.counts`)."""
        names, labels = _shape(self)
        return not labels and (set(names) <= _BY_PLATFORM or set(names) <= _BY_PROJECT)


_EQUAL = ("project_id", "status", "platform_id", "os_version_id", "image_type_id", "build_number")
_FILTERS = (*_EQUAL, "created_after", "created_before")
_BY_PLATFORM = {"platform_id", "status"}
_BY_PROJECT = {"project_id", "status"}


def _shape(f: BuildFilters) -> tuple[tuple[str, ...], int]:
    """What a query for ``f`` looks like: the filters set, and how many labels."""
    return tuple(n for n in _FILTERS if getattr(f, n) is not None), len(f.labels)


def _parameters(f: BuildFilters) -> dict[str, Any]:
    """The values of ``f``, named as :func:`_where` binds them."""
    values = {n: v for n in _FILTERS if (v := getattr(f, n)) is not None}
    for i, (key, value) in enumerate(f.labels):
        values[f"label_key_{i}"], values[f"label_value_{i}"] = key, value
    return values


def _where(query: _Q, names: tuple[str, ...], labels: int) -> _Q:
    """``query`` restricted by the filters ``names`` and ``labels`` label pairs, each a
    bound parameter (see :func:`_parameters`)."""
    conditions = [_BUILDS.c[n] == bindparam(n) for n in names if n in _EQUAL]
    if "created_after" in names:
        conditions.append(_BUILDS.c.created_at >= bindparam("created_after"))
    if "created_before" in names:
        conditions.append(_BUILDS.c.created_at < bindparam("created_before"))
    for i in range(labels):
        key: BindParameter[str] = bindparam(f"label_key_{i}")
        value: BindParameter[str] = bindparam(f"label_value_{i}")
        labelled = select(_LABELS.c.build_id).where(_LABELS.c.key == key, _LABELS.c.value == value)
        conditions.append(_BUILDS.c.id.in_(labelled))
    return query.where(and_(*conditions)) if conditions else query


def _build_json(sql: SqlDialect) -> Label[str]:
    """A build as JSON, built by the database (see views.build_json)."""
    built = text(build_json(sql)).bindparams(bindparam("now", type_=UTCDateTime))
    return type_coerce(built, String()).label("build")


def _build_bytes(sql: SqlDialect) -> Label[int]:
    """About a build's bytes as JSON, from its columns (see views.build_json_bytes)."""
    return type_coerce(text(build_json_bytes(sql)), Integer()).label("size")


def _newest_first(query: _Q) -> _Q:
    return query.order_by(_BUILDS.c.created_at.desc(), _BUILDS.c.id.desc())


def _rows_within_budget(sql: SqlDialect, names: tuple[str, ...], labels: int) -> CTE:
    """How many of the page's builds fit in ``:budget`` bytes, or NULL when all do.

    A build is kept while the builds before it and itself stay within the budget (the
    first always is). The sum of the page's sizes decides first: it reads the rows but
    builds nothing, and the common page of small builds stops there; only a page over
    the budget is counted build by build (a window, several times its cost)."""
    sized = select(_build_bytes(sql), _BUILDS.c.created_at, _BUILDS.c.id).select_from(_BUILDS)
    sized = _where(sized, names, labels)
    page = _newest_first(sized).offset(bindparam("skip")).limit(bindparam("limit")).subquery()
    total = select(func.sum(page.c.size)).scalar_subquery()
    before = sql.total_before(page.c.size, (page.c.created_at.desc(), page.c.id.desc()))
    running = select(before.label("before"), page.c.size).subquery()
    budget: BindParameter[int] = bindparam("budget")
    fits = or_(running.c.before.is_(None), running.c.before + running.c.size <= budget)
    kept = func.sum(case((fits, 1), else_=0))
    # NULL when the window keeps them all after all.
    counted = select(func.nullif(kept, func.count())).scalar_subquery()
    return select(case((total <= budget, None), else_=counted).label("n")).cte("kept")


@lru_cache(maxsize=256)
def _page_query(names: tuple[str, ...], labels: int, dialect: str) -> Prepared:
    sql = SQL_DIALECTS[dialect]
    kept = _rows_within_budget(sql, names, labels)
    rows = func.coalesce(select(kept.c.n).scalar_subquery(), bindparam("limit"))
    query = select(_build_json(sql), _BUILDS.c.created_at, _BUILDS.c.id).select_from(_BUILDS)
    query = _newest_first(_where(query, names, labels)).offset(bindparam("skip")).limit(rows)
    page = query.subquery()
    in_order = (page.c.created_at.desc(), page.c.id.desc())
    # The page as one row: sqlite3 hands the GIL over for every row it steps, and a
    # hundred hand-offs cost more than the page.
    joined = sql.joined_in_order(page.c.build, in_order).label("page")
    cut = select(kept.c.n.is_not(None)).scalar_subquery().label("cut")
    return Prepared(select(joined, func.count().label("builds"), cut))


def page_query(
    f: BuildFilters, skip: int, limit: int, now: datetime, dialect: str, budget: int
) -> tuple[Prepared, dict[str, Any]]:
    """The query for a page of the builds ``f`` selects, newest first, as one JSON text
    built by ``dialect``'s database (durations of running builds counted up to ``now``),
    with as many of the ``limit`` builds as fit in ``budget`` bytes (at least one), and
    its values. The builds left out are never built into JSON."""
    if dialect not in SQL_DIALECTS:
        raise ValueError(f"a JSON page is built by {', '.join(SQL_DIALECTS)}, not {dialect!r}")
    values = {**_parameters(f), "skip": skip, "limit": limit, "now": now, "budget": budget}
    return _page_query(*_shape(f), dialect), values


@lru_cache(maxsize=256)
def _count_query(names: tuple[str, ...], labels: int) -> Prepared:
    return Prepared(_where(select(func.count().label("n")).select_from(_BUILDS), names, labels))


def count_query(f: BuildFilters) -> tuple[Prepared, dict[str, Any]]:
    """The query counting the builds ``f`` selects, and its values."""
    return _count_query(*_shape(f)), _parameters(f)


class BuildRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- one build ---------------------------------------------------------------------
    def row(self, build_id: str) -> Any:
        """The build as a read-only row (a named tuple), or ``None``."""
        return _BUILD.first(self.session, {"build_id": build_id})

    def get(self, build_id: str, *, for_update: bool = False) -> Build | None:
        """The build as an object to change with :meth:`update` (not in the session:
        see :mod:`buildstate.server.db.rows`). ``for_update`` locks its row on PostgreSQL;
        on SQLite the writer's ``BEGIN IMMEDIATE`` already excludes other writers (and
        SQLite's SQL has no ``FOR UPDATE``: the statement is a plain SELECT there)."""
        query = _BUILD_FOR_UPDATE if for_update else _BUILD
        row = query.first(self.session, {"build_id": build_id})
        return None if row is None else record(Build, **row._asdict())

    def references(self, values: dict[str, str]) -> dict[str, bool | None]:
        """For each field of :data:`REFERENCES` in ``values``: whether the entry it names
        is active (``None``: there is no such entry)."""
        row = _REFERENCES.first(self.session, values)
        return {
            field: None if flag is None else bool(flag)
            for field, flag in zip(row._fields, row, strict=True)
        }

    def number_taken(self, project_id: str, build_number: str) -> bool:
        params = {"project_id": project_id, "build_number": build_number}
        return _NUMBER_TAKEN.first(self.session, params) is not None

    def add(self, *rows: Base) -> None:
        for row in rows:
            insert_row(self.session, row)

    def update(self, build: Build, **changes: Any) -> None:
        update_row(self.session, build, **changes)

    def last_state_status(self, build_id: str) -> str | None:
        params = {"build_id": build_id}
        status: str | None = _LAST_STATE_STATUS.scalar(self.session, params)
        return status

    def last_failure(self, build_id: str) -> BuildFailure | None:
        query = (
            select(BuildFailure)
            .where(BuildFailure.build_id == build_id)
            .order_by(BuildFailure.id.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def history(self, build_id: str) -> list[BuildState]:
        query = select(BuildState).where(BuildState.build_id == build_id).order_by(BuildState.id)
        return list(self.session.scalars(query).all())

    def failures(self, build_id: str) -> list[Any]:
        return _FAILURES_OF.all(self.session, {"build_id": build_id})

    def artifacts(self, build_id: str, *, checkpoints_only: bool = False) -> list[BuildArtifact]:
        query = select(BuildArtifact).where(BuildArtifact.build_id == build_id)
        if checkpoints_only:
            query = query.where(BuildArtifact.is_checkpoint.is_(True))
        return list(self.session.scalars(query.order_by(BuildArtifact.id)).all())

    def reported_codes(self, build_id: str) -> list[int]:
        query = select(BuildState.state_code).where(BuildState.build_id == build_id).distinct()
        return sorted(self.session.scalars(query).all())

    def project_codes(self, project_id: str) -> list[tuple[int, bool]]:
        rows = _PROJECT_CODES.all(self.session, {"project_id": project_id})
        return [(code, blocking) for code, blocking in rows]

    # -- many builds -------------------------------------------------------------------
    def search_json(
        self, f: BuildFilters, skip: int, limit: int, now: datetime, budget: int = PAGE_BYTES
    ) -> Page:
        """A page of builds, newest first, as a JSON array built by the database
        (durations of running builds counted up to ``now``), of at most ``budget`` bytes
        unless its first build alone is larger."""
        query, values = page_query(f, skip, limit, now, dialect_of(self.session), budget)
        joined, builds, cut = query.first(self.session, values)
        return Page(f"[{joined or ''}]".encode(), builds, bool(cut))

    def count(self, f: BuildFilters) -> int:
        query, values = count_query(f)
        return int(query.scalar(self.session, values) or 0)

    def finished_durations(self, platform_id: str, limit: int) -> list[float]:
        """Seconds from start to finish of the platform's latest completed builds."""
        query = (
            select(Build.started_at, Build.created_at, Build.finished_at)
            .where(Build.platform_id == platform_id, Build.status == "completed")
            .order_by(Build.finished_at.desc())
            .limit(limit)
        )
        rows = (self.session.execute(query)).all()
        return [
            (finished - (started or created)).total_seconds()
            for started, created, finished in rows
            if finished is not None
        ]

    # -- counters ----------------------------------------------------------------------
    def move_counters(self, build: Build, old: str, new: str) -> None:
        """``build`` went from ``old`` to ``new``. Rows are updated in one fixed order
        (statuses sorted, platform before project), so that concurrent moves cannot
        deadlock on PostgreSQL."""
        for status, delta in sorted(((old, -1), (new, 1))):
            self._bump(build, status, delta)

    def count_new(self, build: Build) -> None:
        """``build`` was just created."""
        self._bump(build, build.status, 1)

    def _bump(self, build: Build, status: str, delta: int) -> None:
        """Both counters ``build`` is counted in: (platform, status) and (project, status)."""
        for upsert, key in _BUMPS[dialect_of(self.session)]:
            params = {key: getattr(build, key), "status": status, "delta": delta}
            upsert.execute(self.session, params)

    def counts(
        self, platform_id: str | None = None, *, project_id: str | None = None
    ) -> dict[str, int]:
        """Builds by status: of one platform, of one project, or of all."""
        if project_id is not None and platform_id is not None:
            raise ValueError("counters are kept per platform or per project, not both")
        if project_id is not None:
            rows = _PROJECT_COUNTS.all(self.session, {"project_id": project_id})
        elif platform_id is not None:
            rows = _PLATFORM_COUNTS.all(self.session, {"platform_id": platform_id})
        else:
            rows = _COUNTS.all(self.session, {})
        return {status: int(n or 0) for status, n in rows}
