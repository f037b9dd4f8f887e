"""SQLite's SQL for the statements that differ (see :mod:`buildstate.server.db.sql`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.sql.expression import Executable


class SqliteSql:
    name = "sqlite"

    def json_object(self, fields: Mapping[str, str]) -> str:
        pairs = ", ".join(f"'{name}', {expression}" for name, expression in fields.items())
        return f"json_object({pairs})"

    def json_or_empty(self, column: str) -> str:
        return f"json(coalesce({column}, '{{}}'))"

    def api_time(self, column: str) -> str:
        # Stored as ``2026-11-22 06:08:17.708000`` (UTC): only the fraction can hold a
        # dot, and only the separator is a space.
        return f"replace(replace({column}, '.000000', ''), ' ', 'T') || 'Z'"

    def seconds_between(self, start: str, end: str) -> str:
        # strftime rounds to the millisecond: whole seconds only, the fraction added apart.
        whole = f"(strftime('%s', substr({end}, 1, 19)) - strftime('%s', substr({start}, 1, 19)))"
        whole = f"{whole} * 1000000"
        micros = f"{whole} + (0 + substr({end}, 21)) - (0 + substr({start}, 21))"
        return f"(max(0, {micros}) + 500) / 1000 / 1000.0"

    def byte_length(self, column: str) -> str:
        # length() counts a text's characters, and a blob's bytes.
        return f"coalesce(length(CAST({column} AS BLOB)), 0)"

    def json_bytes(self, column: str) -> str:
        # Stored as Python's json.dumps writes it: ASCII (so characters are bytes), with
        # spaces that json() leaves out.
        return f"coalesce(length({column}), 2)"

    def total_before(
        self, value: ColumnElement[int], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[int]:
        # Without ORDER BY the window takes the rows as the subquery gives them, which is
        # ``order_by`` already (as in joined_in_order); with it, SQLite sorts them again.
        total: ColumnElement[int] = func.sum(value).over(rows=(None, -1))
        return total

    def joined_in_order(
        self, column: ColumnElement[Any], order_by: Sequence[ColumnElement[Any]]
    ) -> ColumnElement[str]:
        # SQLite never flattens a subquery with LIMIT into an aggregate, so group_concat
        # takes the rows in the subquery's order: ``order_by`` is that order already.
        joined: ColumnElement[str] = func.group_concat(column, ",")
        return joined

    def upsert_counter(self, table: Table, keys: Sequence[str], counter: str) -> Executable:
        values: dict[str, Any] = {key: bindparam(key) for key in keys}
        values[counter] = bindparam("delta")
        return (
            insert(table)
            .values(values)
            .on_conflict_do_update(
                index_elements=[table.c[key] for key in keys],
                set_={counter: table.c[counter] + bindparam("delta")},
            )
        )


SQLITE_SQL = SqliteSql()
