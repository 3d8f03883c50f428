"""raw_events: deliveries as received. Insert with dedup, the normalizer's claim, replay,
retention's purge, and the admin API's reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from integration_hub.errors import NotReplayable
from integration_hub.storage import dialect
from integration_hub.storage.rows import AnyRow, utcnow
from integration_hub.storage.tables import (
    MALFORMED_ID_PREFIX,
    RawStatus,
    handler_runs,
    internal_events,
    raw_events,
)

# --- edge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewRawEvent:
    partner: str
    partner_event_id: str
    event_type: str
    received_at: datetime
    headers: dict[str, str]
    body: bytes
    # Set for a malformed entry of a verified batch: stored `failed` with this error, so the
    # normalizer never claims it (connectors/base.py).
    last_error: str | None = None


def record_deliveries(
    connection: Connection, *, events: Sequence[NewRawEvent]
) -> set[tuple[str, str]]:
    """Insert what is new; return the (partner, partner event id) keys actually inserted."""
    if not events:
        return set()
    now = utcnow()
    rows = [
        {
            "partner": e.partner,
            "partner_event_id": e.partner_event_id,
            "event_type": e.event_type,
            "received_at": e.received_at,
            "headers": e.headers,
            "body": e.body,
            "status": (RawStatus.RECEIVED if e.last_error is None else RawStatus.FAILED).value,
            "attempts": 0,
            "last_error": e.last_error,
            "updated_at": now,
        }
        for e in events
    ]
    return dialect.insert_new_rows(
        connection, raw_events, key=("partner", "partner_event_id"), rows=rows
    )


# --- normalizer -------------------------------------------------------------------------


def claim_received(connection: Connection, *, limit: int, skip_locked: bool) -> Sequence[AnyRow]:
    query = (
        select(
            raw_events.c.id,
            raw_events.c.partner,
            raw_events.c.partner_event_id,
            raw_events.c.event_type,
            raw_events.c.body,
            raw_events.c.headers,  # holds the ingest span's traceparent
            raw_events.c.received_at,
            raw_events.c.last_error,  # a malformed entry keeps its reason (normalize_row)
        )
        .where(raw_events.c.status == RawStatus.RECEIVED.value)
        .order_by(raw_events.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return connection.execute(query).all()


def still_received(connection: Connection, *, ids: Sequence[int]) -> set[int]:
    rows = connection.execute(
        select(raw_events.c.id).where(
            raw_events.c.id.in_(ids), raw_events.c.status == RawStatus.RECEIVED.value
        )
    )
    return set(rows.scalars())


# --- replay -----------------------------------------------------------------------------


def request_replay(
    connection: Connection,
    *,
    partner: str | None = None,
    partner_event_id: str | None = None,
    status: str | None = None,
) -> int:
    """Send matching raw events back to the normalizer; returns how many.

    A malformed entry of a batch is never requeued: it has no partner payload, so the
    normalizer could only turn its dead-letter (and reason) into `ignored`. Asked for by id,
    it raises NotReplayable; a bulk replay leaves it out."""
    conditions = []
    if partner is not None:
        conditions.append(raw_events.c.partner == partner)
    if partner_event_id is not None:
        conditions.append(raw_events.c.partner_event_id == partner_event_id)
    if status is not None:
        conditions.append(raw_events.c.status == status)
    conditions.append(raw_events.c.body_purged_at.is_(None))  # nothing left to normalize again
    if partner_event_id is not None and partner_event_id.startswith(MALFORMED_ID_PREFIX):
        found = connection.execute(select(raw_events.c.id).where(and_(*conditions))).first()
        if found is not None:
            raise NotReplayable(
                f"{partner_event_id!r} is a malformed entry of a batch; its bytes are kept "
                "for recovery, but there is no partner payload to normalize again"
            )
        return 0
    # substr, not LIKE: SQLite's LIKE ignores case, and the prefix is exact on both databases.
    prefix = func.substr(raw_events.c.partner_event_id, 1, len(MALFORMED_ID_PREFIX))
    conditions.append(prefix != MALFORMED_ID_PREFIX)
    result = connection.execute(
        update(raw_events)
        .where(and_(*conditions))
        .values(status=RawStatus.RECEIVED.value, updated_at=utcnow())
    )
    return int(result.rowcount)


# --- retention --------------------------------------------------------------------------


def purge_raw_bodies(connection: Connection, *, received_before: datetime, limit: int) -> int:
    """Empty up to `limit` stored bodies received before the cutoff; the rows (dedup keys,
    status, headers) and their internal events stay. Rows still waiting for the normalizer are
    left alone. Returns how many were purged."""
    batch = (
        select(raw_events.c.id)
        .where(
            raw_events.c.received_at < received_before,
            raw_events.c.body_purged_at.is_(None),
            raw_events.c.status != RawStatus.RECEIVED.value,
        )
        .order_by(raw_events.c.id)
        .limit(limit)
    )
    ids = list(connection.execute(batch).scalars())
    if not ids:
        return 0
    now = utcnow()
    connection.execute(
        update(raw_events)
        .where(raw_events.c.id.in_(ids))
        .values(body=b"", body_purged_at=now, updated_at=now)
    )
    return len(ids)


# --- admin reads ------------------------------------------------------------------------


def get_raw_event(
    connection: Connection, *, partner: str, partner_event_id: str
) -> tuple[AnyRow, list[tuple[dict[str, Any], list[AnyRow]]]] | None:
    """The raw event and its internal events, each with its handler runs."""
    raw = connection.execute(
        select(raw_events).where(
            raw_events.c.partner == partner, raw_events.c.partner_event_id == partner_event_id
        )
    ).one_or_none()
    if raw is None:
        return None
    events = connection.execute(
        select(internal_events.c.id, internal_events.c.envelope)
        .where(internal_events.c.raw_event_id == raw.id)
        .order_by(internal_events.c.position)
    ).all()
    runs = connection.execute(
        select(handler_runs).where(handler_runs.c.event_id.in_([e.id for e in events]))
    ).all()
    return raw, [(dict(e.envelope), [r for r in runs if r.event_id == e.id]) for e in events]


def find_raw_events(
    connection: Connection,
    *,
    partner: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    partner_event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    before_id: int | None = None,
) -> Sequence[AnyRow]:
    """The admin API's event list: filters on partner, status, type, id and a receipt window
    (`since` inclusive, `until` exclusive). Newest first; `before_id` is the cursor (the id of
    the last row of the previous page)."""
    query = select(
        raw_events.c.id,
        raw_events.c.partner,
        raw_events.c.partner_event_id,
        raw_events.c.event_type,
        raw_events.c.status,
        raw_events.c.attempts,
        raw_events.c.last_error,
        raw_events.c.received_at,
    )
    for column, value in (
        (raw_events.c.partner, partner),
        (raw_events.c.status, status),
        (raw_events.c.event_type, event_type),
        (raw_events.c.partner_event_id, partner_event_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(raw_events.c.received_at >= since)
    if until is not None:
        query = query.where(raw_events.c.received_at < until)
    if before_id is not None:
        query = query.where(raw_events.c.id < before_id)
    return connection.execute(query.order_by(raw_events.c.id.desc()).limit(limit)).all()
