"""Read-only queries over raw_events for observability, the one place that groups them: the
backlog behind the waiting/dead-lettered gauges (backlog.py), the status panel's counts,
hourly series and latencies (status.py), and doctor's evidence of a partner's progress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, exists, func, select

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import RawStatus, raw_events

BACKLOG_STATUSES = (RawStatus.RECEIVED.value, RawStatus.PROCESSING.value, RawStatus.FAILED.value)
NORMALIZED_STATUSES = (
    RawStatus.PROCESSING.value,
    RawStatus.PROCESSED.value,
    RawStatus.IGNORED.value,
)


@dataclass(frozen=True, slots=True)
class Group:
    """The raw events of one (partner, status)."""

    count: int
    newest: datetime  # the latest receipt
    oldest: datetime  # the earliest receipt


def by_partner_and_status(
    connection: Connection,
    *,
    since: datetime | None = None,
    statuses: Sequence[str] | None = None,
) -> dict[tuple[str, str], Group]:
    """(partner, status) -> its raw events, received at or after `since` and in `statuses`
    when given."""
    query = select(
        raw_events.c.partner,
        raw_events.c.status,
        func.count(),
        func.max(raw_events.c.received_at),
        func.min(raw_events.c.received_at),
    ).group_by(raw_events.c.partner, raw_events.c.status)
    if since is not None:
        query = query.where(raw_events.c.received_at >= since)
    if statuses is not None:
        query = query.where(raw_events.c.status.in_(statuses))
    return {
        (partner, status): Group(count, as_utc(newest), as_utc(oldest))
        for partner, status, count, newest, oldest in connection.execute(query)
    }


def backlog(connection: Connection) -> dict[tuple[str, str], int]:
    """(partner, status) -> raw events, for the statuses that are not done: received and
    processing (waiting) and failed (dead-lettered). Uses the (status, id) index."""
    groups = by_partner_and_status(connection, statuses=BACKLOG_STATUSES)
    return {key: group.count for key, group in groups.items()}


def hourly(connection: Connection, *, since: datetime) -> dict[tuple[str, str], int]:
    """(partner, hour of receipt as 'YYYY-MM-DDTHH' in UTC) -> raw events received since."""
    bucket = dialect.hour_bucket(connection, raw_events.c.received_at).label("bucket")
    rows = connection.execute(
        select(raw_events.c.partner, bucket, func.count())
        .where(raw_events.c.received_at >= since)
        .group_by(raw_events.c.partner, bucket)
    )
    return {(partner, label): count for partner, label, count in rows}


def recent_latencies(connection: Connection, *, partner: str, limit: int) -> list[float]:
    """Seconds from receipt to processed, for the partner's `limit` latest processed events."""
    rows = connection.execute(
        select(raw_events.c.received_at, raw_events.c.updated_at)
        .where(
            raw_events.c.partner == partner,
            raw_events.c.status == RawStatus.PROCESSED.value,
        )
        .order_by(raw_events.c.id.desc())
        .limit(limit)
    ).all()
    return [(as_utc(done) - as_utc(got)).total_seconds() for got, done in rows]


def progress(connection: Connection, *, partner: str) -> dict[str, bool]:
    """Whether the hub stored, normalized and fully handled at least one of the partner's
    deliveries (doctor's checklist)."""

    def any_row(*conditions: ColumnElement[bool]) -> bool:
        query = select(exists().where(raw_events.c.partner == partner, *conditions))
        return bool(connection.execute(query).scalar())

    return {
        "stored": any_row(),
        "normalized": any_row(raw_events.c.status.in_(NORMALIZED_STATUSES)),
        "handled": any_row(raw_events.c.status == RawStatus.PROCESSED.value),
    }
