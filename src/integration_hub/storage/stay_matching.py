"""Which stay a reservation joins, and which two stays are one booking: the rule the handler
(orchestration/reservation_apply.py) and an admin's `link_listing` (stays.py) share."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from integration_hub.storage.tables import reservations, stays

# The unified model's source name of a calendar feed's reservations (connectors/pms.py's
# "ical" channel): a feed knows only dates, so any PMS reservation of a stay outranks it.
CALENDAR_SOURCE = "ical"
CANCELLED_STATUSES = frozenset({"cancelled", "declined", "expired"})


def _stay_sources(connection: Connection, stay_id: str) -> set[bool]:
    """Which kinds of reservation a stay holds: True for a calendar feed's, False for a PMS's."""
    found = connection.execute(
        select(reservations.c.source).where(reservations.c.stay_id == stay_id).distinct()
    ).scalars()
    return {source == CALENDAR_SOURCE for source in found}


def _has_live(connection: Connection, stay_id: str) -> bool:
    found = connection.execute(
        select(reservations.c.id)
        .where(reservations.c.stay_id == stay_id, reservations.c.status.not_in(CANCELLED_STATUSES))
        .limit(1)
    ).first()
    return found is not None


def _compatible(kinds_a: set[bool], kinds_b: set[bool]) -> bool:
    """One side only a feed's, the other only a PMS's: the same booking seen both ways."""
    return len(kinds_a) == 1 and len(kinds_b) == 1 and kinds_a != kinds_b


def matching_stay(
    connection: Connection,
    *,
    property_id: str,
    channel_code: str | None,
    check_in: date,
    check_out: date,
    from_calendar: bool,
    exclude: str | None = None,
) -> str | None:
    """The stay at `property_id` a reservation joins: the one of the same channel code, else
    one of the same dates that only the other kind of source (feed vs PMS) reports and whose
    channel code does not contradict; live stays first, then the oldest."""
    order = (stays.c.status.in_(CANCELLED_STATUSES), stays.c.created_at, stays.c.id)
    query = select(stays.c.id, stays.c.channel_code).where(stays.c.property_id == property_id)
    if exclude is not None:
        query = query.where(stays.c.id != exclude)
    if channel_code is not None:
        found = connection.execute(
            query.where(stays.c.channel_code == channel_code).order_by(*order).limit(1)
        ).scalar_one_or_none()
        if found is not None:
            return str(found)
    candidates = connection.execute(
        query.where(stays.c.check_in == check_in, stays.c.check_out == check_out).order_by(*order)
    ).all()
    for stay_id, code in candidates:
        if code is not None and channel_code is not None and code != channel_code:
            continue
        # Dates alone never tie a booking to a stay whose bookings are all cancelled: a new
        # booking of those dates is another one (a channel code does tie, above).
        if not _has_live(connection, stay_id):
            continue
        if _compatible({from_calendar}, _stay_sources(connection, stay_id)):
            return str(stay_id)
    return None


def same_booking(connection: Connection, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two stays of one property that are one booking (see `matching_stay`)."""
    if a["channel_code"] is not None and b["channel_code"] is not None:
        return bool(a["channel_code"] == b["channel_code"])
    if (a["check_in"], a["check_out"]) != (b["check_in"], b["check_out"]):
        return False
    return _compatible(_stay_sources(connection, a["id"]), _stay_sources(connection, b["id"]))
