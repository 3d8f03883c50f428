"""poll_cursors: where each poll source stands (its cursor, last success, last error).

`advance` is a compare-and-set: it moves the cursor only from the value the page was fetched
with, so two runs of one source (the schedule's and a `hub poll`) can never both store a page
from the same cursor and skip the other's. It runs in the transaction that stores the page's
raw events (orchestration/polls.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import poll_cursors


@dataclass(frozen=True, slots=True)
class PollState:
    partner: str
    source: str
    instance: str
    cursor: str | None
    updated_at: datetime
    last_error: str | None
    last_success_at: datetime | None


def _key(partner: str, source: str, instance: str) -> dict[str, str]:
    return {"partner": partner, "source": source, "instance": instance}


def _where(partner: str, source: str, instance: str) -> list[object]:
    return [
        poll_cursors.c.partner == partner,
        poll_cursors.c.source == source,
        poll_cursors.c.instance == instance,
    ]


def get_cursor(
    connection: Connection, *, partner: str, source: str, instance: str = ""
) -> str | None:
    """The cursor to fetch from; None before the first page was stored."""
    query = select(poll_cursors.c.cursor).where(*_where(partner, source, instance))  # type: ignore[arg-type]
    found: str | None = connection.execute(query).scalar_one_or_none()
    return found


def advance(
    connection: Connection,
    *,
    partner: str,
    source: str,
    instance: str = "",
    expected: str | None,
    cursor: str | None,
) -> bool:
    """Move the cursor from `expected` to `cursor` and record a success (clearing the last
    error); False, changing nothing, when the stored cursor is no longer `expected`."""
    now = utcnow()
    moved = connection.execute(
        update(poll_cursors)
        .where(
            *_where(partner, source, instance),  # type: ignore[arg-type]
            poll_cursors.c.cursor.is_not_distinct_from(expected),
        )
        .values(cursor=cursor, updated_at=now, last_error=None, last_success_at=now)
    )
    if moved.rowcount == 1:
        return True
    if expected is not None:
        return False
    # The first page of a source no error has been recorded for: no row yet.
    values = {
        **_key(partner, source, instance),
        "cursor": cursor,
        "updated_at": now,
        "last_success_at": now,
    }
    statement = dialect.insert_or_ignore(
        connection, poll_cursors, key=("partner", "source", "instance"), values=values
    )
    return connection.execute(statement.returning(poll_cursors.c.partner)).first() is not None


def record_error(
    connection: Connection, *, partner: str, source: str, instance: str = "", error: str
) -> None:
    """Keep a failed attempt's error (bounded by the caller); the cursor stays where it was."""
    now = utcnow()
    statement = dialect.upsert(
        connection,
        poll_cursors,
        key=("partner", "source", "instance"),
        values={**_key(partner, source, instance), "updated_at": now, "last_error": error},
        changes=lambda excluded: {
            "updated_at": excluded.updated_at,
            "last_error": excluded.last_error,
        },
    )
    connection.execute(statement)


def states(connection: Connection, *, partner: str, limit: int = 100) -> Sequence[PollState]:
    """The sources and instances of `partner` the hub has polled or tried to, by name."""
    rows = connection.execute(
        select(poll_cursors)
        .where(poll_cursors.c.partner == partner)
        .order_by(poll_cursors.c.source, poll_cursors.c.instance)
        .limit(limit)
    ).all()
    return [
        PollState(
            partner=row.partner,
            source=row.source,
            instance=row.instance,
            cursor=row.cursor,
            updated_at=as_utc(row.updated_at),
            last_error=row.last_error,
            last_success_at=as_utc(row.last_success_at) if row.last_success_at else None,
        )
        for row in rows
    ]
