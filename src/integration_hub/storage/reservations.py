"""reservations and reservation_changes: the queries. Which event changes what (and when an
older one is stale) is orchestration/reservations.py's; a history row per (reservation, event)
is unique, which is how a replayed event is told from a new one."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import reservation_changes, reservations

# Columns a source sets (the rest are the hub's: ids, the stay, timestamps).
SOURCE_FIELDS = (
    "source", "source_listing_id", "channel", "channel_code", "status", "raw_status",
    "is_block", "check_in", "check_out", "check_in_time", "check_out_time", "timezone",
    "adults", "children", "infants", "guests_total", "guest_name", "guest_email",
    "guest_phone", "total_minor", "currency", "booked_at", "source_updated_at", "complete",
)  # fmt: skip
GUEST_FIELDS = frozenset({"guest_name", "guest_email", "guest_phone"})
_TIMES = ("booked_at", "source_updated_at", "created_at", "updated_at")


def reservation_id_for(connection_id: str, source_reservation_id: str) -> str:
    key = f"reservation\0{connection_id}\0{source_reservation_id}"
    return "res_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _out(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    for name in _TIMES:
        if found.get(name) is not None:
            found[name] = as_utc(found[name])
    return found


def get_reservation(connection: Connection, reservation_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(reservations).where(reservations.c.id == reservation_id).with_for_update()
    ).one_or_none()
    return None if row is None else _out(row)


def insert_reservation(
    connection: Connection,
    *,
    reservation_id: str,
    connection_id: str,
    source_reservation_id: str,
    stay_id: str | None,
    fields: Mapping[str, Any],
) -> None:
    now = utcnow()
    connection.execute(
        dialect.insert(connection, reservations).values(
            **{name: fields.get(name) for name in SOURCE_FIELDS},
            id=reservation_id, connection_id=connection_id,
            source_reservation_id=source_reservation_id, stay_id=stay_id, created_at=now,
            updated_at=now,
        )
    )  # fmt: skip


def update_reservation(
    connection: Connection, reservation_id: str, values: Mapping[str, Any]
) -> None:
    connection.execute(
        update(reservations)
        .where(reservations.c.id == reservation_id)
        .values(**values, updated_at=utcnow())
    )


def was_recorded(connection: Connection, *, reservation_id: str, event_id: str) -> bool:
    """True when this event already left its row in the reservation's history (a replay)."""
    found = connection.execute(
        select(reservation_changes.c.id).where(
            reservation_changes.c.reservation_id == reservation_id,
            reservation_changes.c.event_id == event_id,
        )
    ).first()
    return found is not None


def record_change(
    connection: Connection,
    *,
    reservation_id: str,
    event_id: str,
    kind: str,
    changes: Mapping[str, Any],
    source_updated_at: datetime | None,
) -> bool:
    """One history row (False: this event's row was there already)."""
    done = connection.execute(
        dialect.insert_or_ignore(
            connection, reservation_changes, key=["reservation_id", "event_id"]
        )
        .values(reservation_id=reservation_id, event_id=event_id, kind=kind,
                changes=dict(changes), source_updated_at=source_updated_at,
                recorded_at=utcnow())
        .returning(reservation_changes.c.id)
    ).first()  # fmt: skip
    return done is not None


def history(connection: Connection, reservation_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(reservation_changes)
        .where(reservation_changes.c.reservation_id == reservation_id)
        .order_by(reservation_changes.c.id)
    )
    return [dict(row._mapping) for row in rows]


def future_live(
    connection: Connection,
    *,
    connection_id: str,
    after: date,
    statuses: Collection[str],
    source_listing_id: str | None = None,
) -> list[dict[str, Any]]:
    """A connection's reservations (of one listing, when given) in `statuses` that check out
    after `after`: what a whole calendar must still hold."""
    query = select(reservations).where(
        reservations.c.connection_id == connection_id,
        reservations.c.status.in_(list(statuses)),
        reservations.c.check_out > after,
    )
    if source_listing_id is not None:
        query = query.where(reservations.c.source_listing_id == source_listing_id)
    return [_out(row) for row in connection.execute(query.order_by(reservations.c.id))]


def of_listing(
    connection: Connection, *, connection_id: str, source_listing_id: str
) -> dict[str, dict[str, Any]]:
    """A listing's reservations by source reservation id (a calendar compares its entries)."""
    query = select(reservations).where(
        reservations.c.connection_id == connection_id,
        reservations.c.source_listing_id == source_listing_id,
    )
    return {row.source_reservation_id: _out(row) for row in connection.execute(query)}
