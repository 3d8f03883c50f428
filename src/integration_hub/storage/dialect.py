"""The one place that tells SQLite from PostgreSQL in a query.

Every insert-or-ignore and upsert of the hub (storage modules and partner packages alike) is
built here, and so are the few other statements the two databases spell differently: the
bulk insert of the ingest path, the advisory lock and the hour bucket. A `SELECT ... FOR
UPDATE` needs nothing from here: SQLite's compiler leaves the clause out, and SQLite already
serializes writers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, TypeAlias

import orjson
from sqlalchemy import JSON, ColumnElement, Connection, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

Insert: TypeAlias = SqliteInsert | PgInsert
# The row an upsert would have inserted (`excluded.<column>`), for its update and condition.
Excluded: TypeAlias = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def insert(connection: Connection, table: Table) -> Insert:
    """An INSERT that takes ON CONFLICT clauses on either database."""
    return sqlite.insert(table) if _is_sqlite(connection) else postgresql.insert(table)


def insert_or_ignore(
    connection: Connection,
    table: Table,
    *,
    key: Sequence[str],
    values: Mapping[str, Any] | None = None,
) -> Insert:
    """INSERT ... ON CONFLICT (key) DO NOTHING; add `.returning(...)` to learn whether it did.

    Without `values`, execute it with a list of rows (executemany)."""
    statement = insert(connection, table)
    if values is not None:
        statement = statement.values(dict(values))
    return statement.on_conflict_do_nothing(index_elements=list(key))


def upsert(
    connection: Connection,
    table: Table,
    *,
    key: Sequence[str],
    changes: Callable[[Excluded], Mapping[str, Any]],
    values: Mapping[str, Any] | None = None,
    only_if: Callable[[Excluded], ColumnElement[bool]] | None = None,
) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET changes(excluded) [WHERE only_if(excluded)].

    `changes` and `only_if` get the row that would have been inserted, so an update can take
    its values (`excluded.<column>`). With `only_if`, a conflicting row it rejects is left as
    it is and `.returning(...)` returns nothing for it."""
    statement = insert(connection, table)
    if values is not None:
        statement = statement.values(dict(values))
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_=dict(changes(excluded)),
        where=only_if(excluded) if only_if is not None else None,
    )


def serialize_on(connection: Connection, *, key: str) -> None:
    """Hold a lock on `key` until the transaction ends, so rules that read earlier rows of
    the same object run one at a time (PostgreSQL; SQLite already serializes writers)."""
    if not _is_sqlite(connection):
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def hour_bucket(connection: Connection, column: ColumnElement[Any]) -> ColumnElement[str]:
    """The hour of a timestamp as 'YYYY-MM-DDTHH' (UTC)."""
    if _is_sqlite(connection):
        return func.strftime("%Y-%m-%dT%H", column)
    hour = func.date_trunc("hour", func.timezone("UTC", column))
    return func.to_char(hour, 'YYYY-MM-DD"T"HH24')


# --- the ingest path's bulk insert-or-ignore -------------------------------------------------

SQLITE_MAX_PARAMETERS = 32766
SQLITE_MAX_ROWS_PER_STATEMENT = 1000


def insert_new_rows(
    connection: Connection,
    table: Table,
    *,
    key: tuple[str, str],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[Any, Any]]:
    """Insert the rows whose `key` (a unique pair of columns) is not stored yet, the first of
    several rows with one key only; returns the keys inserted. Every row has the same columns.

    Built for the edge's group commit, where it is the hot path: it talks to the driver
    directly on both databases."""
    if not rows:
        return set()
    columns = tuple(rows[0])
    if _is_sqlite(connection):
        return _insert_new_sqlite(connection, table, key, columns, rows)
    return _insert_new_postgresql(connection, table, key, columns, rows)


@cache
def _postgresql_sql(table: Table, key: tuple[str, str], columns: tuple[str, ...]) -> str:
    values = ", ".join(
        "%s::json" if isinstance(table.c[name].type, JSON) else "%s" for name in columns
    )
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values}) "  # noqa: S608 (no input)
        f"ON CONFLICT ({', '.join(key)}) DO NOTHING RETURNING {', '.join(key)}"
    )


def _insert_new_postgresql(
    connection: Connection,
    table: Table,
    key: tuple[str, str],
    columns: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[Any, Any]]:
    """One short single-row statement, sent for all rows at once by psycopg's pipelined
    executemany: parsed and prepared once. (A multi-row VALUES statement of a new length is
    parsed again each time, and text-format arrays escape every 4 KB body with a regex.)"""
    as_json = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    pick = itemgetter(*columns)
    parameters = []
    for row in rows:
        values = list(pick(row))
        for i in as_json:
            values[i] = orjson.dumps(values[i]).decode()
        parameters.append(values)
    inserted: set[tuple[Any, Any]] = set()
    with connection.connection.driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.executemany(_postgresql_sql(table, key, columns), parameters, returning=True)
        while True:
            found = cursor.fetchone()
            if found is not None:
                inserted.add((found[0], found[1]))
            if not cursor.nextset():
                break
    return inserted


@lru_cache(maxsize=64)  # one per batch size seen; batches of many sizes must not pile up
def _sqlite_sql(table: Table, key: tuple[str, str], columns: tuple[str, ...], rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * rows)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} {conflict}"  # noqa: S608 (no input)


def _insert_new_sqlite(
    connection: Connection,
    table: Table,
    key: tuple[str, str],
    columns: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[Any, Any]]:
    """One multi-row INSERT per chunk instead of RETURNING, which SQLite's driver steps row by
    row, giving up and taking back the GIL each time; under load every take-back waits for the
    event loop thread. The caller holds the write lock, so reading duplicates first is exact."""
    chunk_rows = min(SQLITE_MAX_ROWS_PER_STATEMENT, SQLITE_MAX_PARAMETERS // len(columns))
    group_column, id_column = table.c[key[0]], table.c[key[1]]
    ids_by_group: dict[Any, set[Any]] = {}
    for row in rows:
        ids_by_group.setdefault(row[key[0]], set()).add(row[key[1]])
    existing: set[tuple[Any, Any]] = set()
    for group, id_set in ids_by_group.items():
        ids = list(id_set)
        for start in range(0, len(ids), SQLITE_MAX_ROWS_PER_STATEMENT):
            found = connection.execute(  # served by the unique index on the key
                select(id_column).where(
                    group_column == group,
                    id_column.in_(ids[start : start + SQLITE_MAX_ROWS_PER_STATEMENT]),
                )
            )
            existing.update((group, found_id) for found_id in found.scalars())
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in columns]
    inserted: set[tuple[Any, Any]] = set()
    fresh = []
    for row in rows:
        row_key = (row[key[0]], row[key[1]])
        if row_key not in existing and row_key not in inserted:
            inserted.add(row_key)
            fresh.append(row)
    for start in range(0, len(fresh), chunk_rows):
        chunk = fresh[start : start + chunk_rows]
        parameters = tuple(
            processor(row[name]) if processor else row[name]
            for row in chunk
            for name, processor in zip(columns, processors, strict=True)
        )
        connection.exec_driver_sql(_sqlite_sql(table, key, columns, len(chunk)), parameters)
    return inserted
