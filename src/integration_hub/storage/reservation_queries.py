"""Read queries over properties, listings, stays and reservations (the admin API, the CLI
through it, and the panel's calendar). The writes are the reservations handler's
(storage/stays.py); nothing here changes a row.

Pages: properties by id; reservations by (check_in, id), the cursor "<check_in>_<id>"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select

from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import (
    listings,
    pms_connections,
    properties,
    reservation_changes,
    reservations,
    stays,
)

GUEST_FIELDS = ("guest_name", "guest_email", "guest_phone")
_TIMES = ("created_at", "updated_at", "booked_at", "source_updated_at", "removed_at",
          "geocoded_at", "recorded_at", "held_at")  # fmt: skip


def _out(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = as_utc(values[name])
    return values


def list_properties(
    connection: Connection,
    *,
    manager_id: str | None = None,
    limit: int = 100,
    after_id: str | None = None,
    with_removed: bool = False,
) -> list[dict[str, Any]]:
    listed = (
        select(func.count())
        .select_from(listings)
        .where(listings.c.property_id == properties.c.id, listings.c.removed_at.is_(None))
        .scalar_subquery()
        .label("listings")
    )
    query = select(properties, listed).order_by(properties.c.id).limit(limit)
    if manager_id is not None:
        query = query.where(properties.c.manager_id == manager_id)
    if after_id is not None:
        query = query.where(properties.c.id > after_id)
    if not with_removed:
        query = query.where(properties.c.removed_at.is_(None))
    return [_out(row) for row in connection.execute(query)]


def get_property(connection: Connection, *, property_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(properties).where(properties.c.id == property_id)).first()
    return None if row is None else _out(row)


def listings_of(connection: Connection, *, property_id: str) -> list[dict[str, Any]]:
    query = (
        select(listings)
        .where(listings.c.property_id == property_id)
        .order_by(listings.c.connection_id, listings.c.source_listing_id)
    )
    return [_out(row) for row in connection.execute(query)]


def _property_of() -> Any:
    # A reservation's property: its stay's, else its listing's (a reservation not yet linked).
    return func.coalesce(stays.c.property_id, listings.c.property_id).label("property_id")


def list_reservations(
    connection: Connection,
    *,
    property_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    statuses: Sequence[str] = (),
    limit: int = 100,
    after: tuple[date, str] | None = None,
) -> list[dict[str, Any]]:
    """Reservations with their stay and property, by check-in; `start`/`end` keep those that
    overlap [start, end) (check_out is the departure day)."""
    property_of = _property_of()
    query = (
        select(reservations, property_of)
        .select_from(
            reservations.outerjoin(stays, stays.c.id == reservations.c.stay_id).outerjoin(
                listings,
                and_(
                    listings.c.connection_id == reservations.c.connection_id,
                    listings.c.source_listing_id == reservations.c.source_listing_id,
                ),
            )
        )
        .order_by(reservations.c.check_in, reservations.c.id)
        .limit(limit)
    )
    if property_id is not None:
        query = query.where(
            func.coalesce(stays.c.property_id, listings.c.property_id) == property_id
        )
    if start is not None:
        query = query.where(reservations.c.check_out > start)
    if end is not None:
        query = query.where(reservations.c.check_in < end)
    if statuses:
        query = query.where(reservations.c.status.in_(list(statuses)))
    if after is not None:
        check_in, reservation_id = after
        query = query.where(
            (reservations.c.check_in > check_in)
            | and_(reservations.c.check_in == check_in, reservations.c.id > reservation_id)
        )
    return [_out(row) for row in connection.execute(query)]


def get_reservation(connection: Connection, *, reservation_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(reservations).where(reservations.c.id == reservation_id)
    ).first()
    return None if row is None else _out(row)


def reservation_history(connection: Connection, *, reservation_id: str) -> list[dict[str, Any]]:
    query = (
        select(reservation_changes)
        .where(reservation_changes.c.reservation_id == reservation_id)
        .order_by(reservation_changes.c.id)
    )
    return [_out(row) for row in connection.execute(query)]


def calendar_stays(
    connection: Connection, *, property_ids: Sequence[str], start: date, end: date
) -> list[dict[str, Any]]:
    """Stays of `property_ids` overlapping [start, end), cancelled ones left out."""
    query = (
        select(stays)
        .where(stays.c.property_id.in_(list(property_ids)))
        .where(stays.c.check_out > start, stays.c.check_in < end)
        .where(stays.c.status.not_in(["cancelled", "declined", "expired"]))
        .order_by(stays.c.property_id, stays.c.check_in, stays.c.id)
    )
    return [_out(row) for row in connection.execute(query)]


def held_connections(
    connection: Connection, *, property_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Held connections (an iCal feed whose calendar looked wrong) feeding `property_ids`."""
    query = (
        select(
            pms_connections.c.id,
            pms_connections.c.partner,
            pms_connections.c.label,
            pms_connections.c.held_reason,
            pms_connections.c.held_at,
            listings.c.property_id,
        )
        .join(listings, listings.c.connection_id == pms_connections.c.id)
        .where(pms_connections.c.status == "held")
        .where(listings.c.property_id.in_(list(property_ids)))
        .distinct()
        .order_by(pms_connections.c.id)
    )
    return [_out(row) for row in connection.execute(query)]
