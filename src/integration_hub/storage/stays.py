"""stays: one booking at one property, however many sources (connections) report it.

A stay's fields follow its primary reservation: a PMS one over a calendar feed's (the PMS
knows times, guests and real statuses; a feed only dates). Which reservation joins which stay
is stay_matching.py's (`matching_stay`, `same_booking`, re-exported here), so the handler
(orchestration/reservations.py) and an admin's `link_listing` merge by the same rule. The feed
hold of a connection (`release_hold`) lives in properties.py with the connections' queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from integration_hub.errors import HubError
from integration_hub.storage import dialect

# Re-exported: an admin's operations (link_listing, suggest_links, release_hold) and the
# feed hold's names are found here.
from integration_hub.storage.properties import CONNECTION_ACTIVE as CONNECTION_ACTIVE
from integration_hub.storage.properties import CONNECTION_HELD as CONNECTION_HELD
from integration_hub.storage.properties import RELEASED as RELEASED
from integration_hub.storage.properties import clear_hold as clear_hold
from integration_hub.storage.properties import clear_release as clear_release
from integration_hub.storage.properties import hold_connection as hold_connection
from integration_hub.storage.properties import release_hold as release_hold
from integration_hub.storage.properties import remove_if_unlisted
from integration_hub.storage.properties import suggest_links as suggest_links
from integration_hub.storage.rows import utcnow
from integration_hub.storage.stay_matching import CALENDAR_SOURCE as CALENDAR_SOURCE
from integration_hub.storage.stay_matching import CANCELLED_STATUSES as CANCELLED_STATUSES
from integration_hub.storage.stay_matching import matching_stay as matching_stay
from integration_hub.storage.stay_matching import same_booking as same_booking
from integration_hub.storage.tables import (
    listings,
    pms_connections,
    properties,
    reservations,
    stays,
)

# What a stay carries, taken from its primary reservation (fallbacks for the nullable ones).
STAY_FIELDS = (
    "channel", "channel_code", "status", "is_block", "check_in", "check_out",
    "check_in_time", "check_out_time", "timezone", "guests_total",
)  # fmt: skip
_FALLBACK_FIELDS = ("channel", "channel_code", "check_in_time", "check_out_time", "timezone",
                    "guests_total")  # fmt: skip


class OtherManager(HubError):
    reason = "other_manager"


def stay_id_for(reservation_id: str) -> str:
    """The stay a reservation makes when it joins none (deterministic: a replay makes the same)."""
    return "stay_" + hashlib.sha256(f"stay\0{reservation_id}".encode()).hexdigest()[:24]


def get_stay(connection: Connection, stay_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(stays).where(stays.c.id == stay_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def insert_stay(
    connection: Connection, *, stay_id: str, property_id: str, fields: dict[str, Any]
) -> None:
    now = utcnow()
    values = {name: fields.get(name) for name in STAY_FIELDS}
    connection.execute(
        dialect.insert_or_ignore(connection, stays, key=["id"]),
        [{**values, "id": stay_id, "property_id": property_id, "created_at": now,
          "updated_at": now}],
    )  # fmt: skip


def refresh_stay(connection: Connection, stay_id: str) -> dict[str, Any] | None:
    """Set a stay's fields from its primary reservation (ranked below), falling back to its
    other reservations and then its property for what the primary lacks. Returns the stay as
    it now is."""
    stay = get_stay(connection, stay_id)
    if stay is None:
        return None
    members = [
        dict(row._mapping)
        for row in connection.execute(
            select(reservations)
            .where(reservations.c.stay_id == stay_id)
            .order_by(reservations.c.created_at, reservations.c.id)
        )
    ]
    if not members:
        return stay
    # A PMS's over a feed's whatever their statuses (a PMS knows a cancellation a feed has not
    # caught up with), then a live one over a cancelled one (a booking a PMS re-made under a
    # new id), then the current primary, then the oldest.
    ranked = sorted(
        members,
        key=lambda r: (
            r["source"] == CALENDAR_SOURCE,
            r["status"] in CANCELLED_STATUSES,
            r["id"] != stay["primary_reservation_id"],
        ),
    )
    primary = ranked[0]
    place = connection.execute(
        select(properties.c.check_in_time, properties.c.check_out_time, properties.c.timezone)
        .where(properties.c.id == stay["property_id"])
    ).one()._mapping  # fmt: skip
    fields = {name: primary[name] for name in STAY_FIELDS}
    for name in _FALLBACK_FIELDS:
        if fields[name] is None:
            fields[name] = next((r[name] for r in ranked if r[name] is not None), None)
        if fields[name] is None and name in place:
            fields[name] = place[name]
    fields["primary_reservation_id"] = primary["id"]
    if any(stay[name] != value for name, value in fields.items()):
        connection.execute(
            update(stays).where(stays.c.id == stay_id).values(**fields, updated_at=utcnow())
        )
        stay.update(fields)
    return stay


def has_others(connection: Connection, *, stay_id: str, reservation_id: str) -> bool:
    """Whether a stay holds a reservation besides `reservation_id`."""
    found = connection.execute(
        select(reservations.c.id)
        .where(reservations.c.stay_id == stay_id, reservations.c.id != reservation_id)
        .limit(1)
    ).first()
    return found is not None


def move_stay(connection: Connection, *, stay_id: str, property_id: str) -> None:
    connection.execute(
        update(stays)
        .where(stays.c.id == stay_id)
        .values(property_id=property_id, updated_at=utcnow())
    )


def merge_stays(connection: Connection, *, survivor: str, merged: str) -> None:
    """Move `merged`'s reservations onto `survivor`, drop `merged` and refresh `survivor`."""
    connection.execute(
        update(reservations).where(reservations.c.stay_id == merged).values(stay_id=survivor)
    )
    connection.execute(delete(stays).where(stays.c.id == merged))
    refresh_stay(connection, survivor)


@dataclass(frozen=True)
class StayChange:
    """A stay an admin's link touched: as it was (None: made by the link) and as it is; a stay
    merged into another (`merged_into`) is gone, `after` is its last state."""

    before: dict[str, Any] | None
    after: dict[str, Any]
    merged_into: str | None = None


def merge_duplicates(
    connection: Connection, *, property_id: str, stay_ids: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Merge each of `stay_ids` with a stay of `property_id` that is the same booking; the
    older stay (created first) keeps its id. Returns (survivor, merged) as they were before
    each merge. Candidates are found in SQL (same channel code, or same dates), not by
    comparing every stay of the property."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for stay_id in stay_ids:
        stay = get_stay(connection, stay_id)
        if stay is None:
            continue
        same_dates = (stays.c.check_in == stay["check_in"]) & (
            stays.c.check_out == stay["check_out"]
        )
        alike = same_dates
        if stay["channel_code"] is not None:
            alike = alike | (stays.c.channel_code == stay["channel_code"])
        others = connection.execute(
            select(stays)
            .where(stays.c.property_id == property_id, stays.c.id != stay_id, alike)
            .order_by(stays.c.created_at, stays.c.id)
        ).all()
        for row in others:
            other = dict(row._mapping)
            if same_booking(connection, stay, other):
                older, newer = sorted((stay, other), key=lambda s: (s["created_at"], s["id"]))
                merge_stays(connection, survivor=older["id"], merged=newer["id"])
                pairs.append((older, newer))
                break
    return pairs


def _lock_properties(connection: Connection, *property_ids: str) -> None:
    for property_id in sorted(set(property_ids)):
        dialect.serialize_on(connection, key=f"pms-property:{property_id}")


def _move_stays_of(
    connection: Connection, *, connection_id: str, source_listing_id: str, property_id: str
) -> list[str]:
    """Move the stays of a listing's reservations to `property_id`: a stay only its
    reservations hold moves whole; from a stay shared with another listing's reservations
    (which stay where their listing is) its reservations leave for a stay of their own."""
    of_listing = (reservations.c.connection_id == connection_id) & (
        reservations.c.source_listing_id == source_listing_id
    )
    moved: set[str] = set()
    for reservation_id, stay_id in connection.execute(
        select(reservations.c.id, reservations.c.stay_id)
        .where(of_listing, reservations.c.stay_id.is_not(None))
        .order_by(reservations.c.id)
    ).all():
        shared = connection.execute(
            select(reservations.c.id).where(reservations.c.stay_id == stay_id, ~of_listing).limit(1)
        ).first()
        if shared is None:
            connection.execute(
                update(stays).where(stays.c.id == stay_id).values(property_id=property_id)
            )
            moved.add(str(stay_id))
            continue
        own = stay_id_for(f"{reservation_id}/{property_id}")
        old = get_stay(connection, stay_id)
        assert old is not None
        insert_stay(connection, stay_id=own, property_id=property_id, fields=old)
        connection.execute(
            update(reservations).where(reservations.c.id == reservation_id).values(stay_id=own)
        )
        refresh_stay(connection, stay_id)
        refresh_stay(connection, own)
        moved.add(own)
    return sorted(moved)


def link_listing(
    connection: Connection, *, connection_id: str, source_listing_id: str, property_id: str
) -> list[StayChange]:
    """Move a listing onto another property of the same manager (an admin's decision, which the
    PMS's later listing events never undo), with its reservations' stays, merging the stays that
    are now one booking; the property it leaves with no listing is removed. LookupError for an
    unknown listing or property, OtherManager for a property of another manager. Returns the
    stays it changed (orchestration/reservation_links.py tells them as events)."""
    listing = connection.execute(
        select(listings.c.property_id, pms_connections.c.manager_id)
        .join(pms_connections, pms_connections.c.id == listings.c.connection_id)
        .where(
            listings.c.connection_id == connection_id,
            listings.c.source_listing_id == source_listing_id,
        )
    ).one_or_none()
    if listing is None:
        raise LookupError("no such listing")
    target = connection.execute(
        select(properties.c.manager_id).where(properties.c.id == property_id)
    ).one_or_none()
    if target is None:
        raise LookupError("no such property")
    if target.manager_id != listing.manager_id:
        raise OtherManager("the property belongs to another manager")
    left = str(listing.property_id)
    _lock_properties(connection, left, property_id)
    now = utcnow()
    connection.execute(
        update(listings)
        .where(
            listings.c.connection_id == connection_id,
            listings.c.source_listing_id == source_listing_id,
        )
        .values(property_id=property_id, linked_by="admin", updated_at=now)
    )
    if left == property_id:
        return []
    touched = _stays_of_listing(connection, connection_id, source_listing_id)
    moved = _move_stays_of(
        connection, connection_id=connection_id, source_listing_id=source_listing_id,
        property_id=property_id,
    )  # fmt: skip
    if moved:
        connection.execute(
            update(properties)
            .where(properties.c.id == property_id)
            .values(removed_at=None, updated_at=now)
        )
        pairs = merge_duplicates(connection, property_id=property_id, stay_ids=sorted(moved))
    else:
        pairs = []
    remove_if_unlisted(connection, left)
    merged_into = {merged["id"]: survivor["id"] for survivor, merged in pairs}
    before = dict(touched)
    for survivor, merged in pairs:
        before.setdefault(survivor["id"], survivor)
        before.setdefault(merged["id"], merged)
    changes: list[StayChange] = []
    for stay_id in sorted({*before, *moved}):
        after = get_stay(connection, stay_id)
        if after is None:
            gone = before.get(stay_id)
            if gone is not None and stay_id in merged_into:
                changes.append(StayChange(gone, gone, merged_into=merged_into[stay_id]))
            continue
        changes.append(StayChange(before.get(stay_id), after))
    return changes


def _stays_of_listing(
    connection: Connection, connection_id: str, source_listing_id: str
) -> dict[str, dict[str, Any]]:
    found = connection.execute(
        select(stays).where(
            stays.c.id.in_(
                select(reservations.c.stay_id).where(
                    reservations.c.connection_id == connection_id,
                    reservations.c.source_listing_id == source_listing_id,
                )
            )
        )
    ).all()
    return {row.id: dict(row._mapping) for row in found}
