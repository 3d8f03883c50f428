"""Read-only queries for observability: trace context of events, their raw row, the backlog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from integration_hub.storage.tables import RawStatus, internal_events, raw_events

BACKLOG_STATUSES = (RawStatus.RECEIVED.value, RawStatus.PROCESSING.value, RawStatus.FAILED.value)


@dataclass(frozen=True, slots=True)
class EventContext:
    """What logs and traces say about one internal event."""

    partner: str
    partner_event_id: str
    traceparent: str | None


def event_contexts(connection: Connection, *, event_ids: Sequence[str]) -> dict[str, EventContext]:
    """Partner, partner event id and the normalize span's traceparent of each internal event."""
    if not event_ids:
        return {}
    rows = connection.execute(
        select(internal_events.c.id, internal_events.c.envelope).where(
            internal_events.c.id.in_(event_ids)
        )
    )
    return {
        row.id: EventContext(
            partner=str(row.envelope.get("partner", "")),
            partner_event_id=str(row.envelope.get("partnereventid", "")),
            traceparent=row.envelope.get("traceparent"),
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class RawState:
    partner: str
    status: str
    received_at: datetime


def raw_state_of(connection: Connection, *, event_id: str) -> RawState | None:
    """The raw event an internal event came from: partner, status and when it was received."""
    row = connection.execute(
        select(raw_events.c.partner, raw_events.c.status, raw_events.c.received_at)
        .join(internal_events, internal_events.c.raw_event_id == raw_events.c.id)
        .where(internal_events.c.id == event_id)
    ).first()
    if row is None:
        return None
    return RawState(partner=row.partner, status=row.status, received_at=_utc(row.received_at))


def backlog(connection: Connection) -> dict[tuple[str, str], int]:
    """(partner, status) -> raw events, for the statuses that are not done: received and
    processing (waiting) and failed (dead-lettered). Uses the (status, id) index."""
    rows = connection.execute(
        select(raw_events.c.partner, raw_events.c.status, func.count())
        .where(raw_events.c.status.in_(BACKLOG_STATUSES))
        .group_by(raw_events.c.partner, raw_events.c.status)
    )
    return {(partner, status): count for partner, status, count in rows}


@dataclass(frozen=True, slots=True)
class RawTrace:
    traceparent: str | None  # the ingest span's, kept under TRACEPARENT_HEADER
    received_at: datetime


def raw_traces(connection: Connection, *, ids: Sequence[int], header: str) -> dict[int, RawTrace]:
    """For raw events about to be normalized: the ingest span's traceparent and receipt time."""
    if not ids:
        return {}
    rows = connection.execute(
        select(raw_events.c.id, raw_events.c.headers, raw_events.c.received_at).where(
            raw_events.c.id.in_(ids)
        )
    )
    return {
        row.id: RawTrace(
            traceparent=(row.headers or {}).get(header),
            received_at=_utc(row.received_at),
        )
        for row in rows
    }


def _utc(moment: datetime) -> datetime:
    """SQLite keeps no offset; what we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
