"""Read-only queries for observability: the backlog behind the waiting/dead-lettered gauges."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from integration_hub.storage.tables import RawStatus, raw_events

BACKLOG_STATUSES = (RawStatus.RECEIVED.value, RawStatus.PROCESSING.value, RawStatus.FAILED.value)


def backlog(connection: Connection) -> dict[tuple[str, str], int]:
    """(partner, status) -> raw events, for the statuses that are not done: received and
    processing (waiting) and failed (dead-lettered). Uses the (status, id) index."""
    rows = connection.execute(
        select(raw_events.c.partner, raw_events.c.status, func.count())
        .where(raw_events.c.status.in_(BACKLOG_STATUSES))
        .group_by(raw_events.c.partner, raw_events.c.status)
    )
    return {(partner, status): count for partner, status, count in rows}
