"""properties and listings (and the PMS connection a listing belongs to): the queries.

A listing seen for the first time gets a property of its own, whose id is derived from the
listing (a replay makes the same); which listing event changes what is
orchestration/reservations.py's.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import listings, pms_connections, properties

# What a listing tells of its property (the property's own columns of the same names).
PLACE_FIELDS = (
    "name", "address", "latitude", "longitude", "timezone", "check_in_time", "check_out_time",
)  # fmt: skip
LISTING_FIELDS = (*PLACE_FIELDS, "source_updated_at")
CONNECTION_ACTIVE, CONNECTION_HELD = "active", "held"
# held_reason of an active connection whose hold an admin released: its next calendar applies
# in full (the drop was real) whatever it vanished, and clears the mark.
RELEASED = "released"
SUGGEST_WITHIN_METRES = 50.0
_EARTH_RADIUS_METRES = 6_371_000.0


def property_id_for(connection_id: str, source_listing_id: str) -> str:
    """The property a listing makes when first seen."""
    key = f"property\0{connection_id}\0{source_listing_id}"
    return "prop_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def get_connection(connection: Connection, connection_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(pms_connections).where(pms_connections.c.id == connection_id)
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def get_listing(
    connection: Connection, *, connection_id: str, source_listing_id: str
) -> dict[str, Any] | None:
    row = connection.execute(
        select(listings).where(
            listings.c.connection_id == connection_id,
            listings.c.source_listing_id == source_listing_id,
        )
    ).one_or_none()
    if row is None:
        return None
    found = dict(row._mapping)
    if found["source_updated_at"] is not None:
        found["source_updated_at"] = as_utc(found["source_updated_at"])
    return found


def insert_listing(
    connection: Connection,
    *,
    connection_id: str,
    source_listing_id: str,
    source: str,
    property_id: str,
    fields: dict[str, Any],
) -> None:
    now = utcnow()
    connection.execute(
        dialect.insert_or_ignore(
            connection, listings, key=["connection_id", "source_listing_id"]
        ),
        [{**{name: fields.get(name) for name in LISTING_FIELDS},
          "connection_id": connection_id, "source_listing_id": source_listing_id,
          "source": source, "property_id": property_id, "linked_by": "auto",
          "created_at": now, "updated_at": now}],
    )  # fmt: skip


def update_listing(
    connection: Connection, *, connection_id: str, source_listing_id: str, values: dict[str, Any]
) -> None:
    connection.execute(
        update(listings)
        .where(
            listings.c.connection_id == connection_id,
            listings.c.source_listing_id == source_listing_id,
        )
        .values(**values, updated_at=utcnow())
    )


def get_property(connection: Connection, property_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(properties).where(properties.c.id == property_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def insert_property(
    connection: Connection,
    *,
    property_id: str,
    manager_id: str,
    fields: dict[str, Any],
    timezone_source: str | None,
) -> bool:
    """A new property (True), or nothing when it exists (a replay)."""
    now = utcnow()
    done = connection.execute(
        dialect.insert_or_ignore(connection, properties, key=["id"])
        .values(**{name: fields.get(name) for name in PLACE_FIELDS}, id=property_id,
                manager_id=manager_id, timezone_source=timezone_source, created_at=now,
                updated_at=now)
        .returning(properties.c.id)
    ).first()  # fmt: skip
    return done is not None


def update_property(connection: Connection, property_id: str, values: dict[str, Any]) -> None:
    connection.execute(
        update(properties)
        .where(properties.c.id == property_id)
        .values(**values, updated_at=utcnow())
    )


def remove_if_unlisted(connection: Connection, property_id: str) -> bool:
    """Mark a property removed when no live listing holds it; True when it was just removed."""
    live = connection.execute(
        select(func.count())
        .select_from(listings)
        .where(listings.c.property_id == property_id, listings.c.removed_at.is_(None))
    ).scalar_one()
    if live:
        return False
    done = connection.execute(
        update(properties)
        .where(properties.c.id == property_id, properties.c.removed_at.is_(None))
        .values(removed_at=utcnow(), updated_at=utcnow())
    )
    return done.rowcount == 1


def _normalized_address(address: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", address.casefold()).split())


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + (
        math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_METRES * math.asin(math.sqrt(h))


def suggest_links(connection: Connection, manager_id: str) -> list[tuple[str, str]]:
    """Pairs of one manager's live properties that look like one place (coordinates within
    50 m, or the same address once case, punctuation and spacing are folded), for an admin to
    link; each pair once, (older id order)."""
    rows = connection.execute(
        select(properties.c.id, properties.c.address, properties.c.latitude,
               properties.c.longitude)
        .where(properties.c.manager_id == manager_id, properties.c.removed_at.is_(None))
        .order_by(properties.c.id)
    ).all()  # fmt: skip
    pairs: list[tuple[str, str]] = []
    for index, a in enumerate(rows):
        for b in rows[index + 1 :]:
            near = (
                None not in (a.latitude, a.longitude, b.latitude, b.longitude)
                and _metres((a.latitude, a.longitude), (b.latitude, b.longitude))
                <= SUGGEST_WITHIN_METRES
            )
            same = (
                a.address is not None
                and b.address is not None
                and _normalized_address(a.address) == _normalized_address(b.address) != ""
            )
            if near or same:
                pairs.append((str(a.id), str(b.id)))
    return pairs


# ---- a feed's hold ---------------------------------------------------------------------------


def hold_connection(
    connection: Connection, connection_id: str, *, reason: str, at: datetime
) -> None:
    connection.execute(
        update(pms_connections)
        .where(pms_connections.c.id == connection_id)
        .values(status=CONNECTION_HELD, held_reason=reason[:255], held_at=at, updated_at=at)
    )


def release_hold(connection: Connection, connection_id: str) -> bool:
    """Release a held feed: its next calendar applies in full (what vanished is cancelled),
    then the mark clears. False when the connection was not held (LookupError: unknown)."""
    status = connection.execute(
        select(pms_connections.c.status).where(pms_connections.c.id == connection_id)
    ).scalar_one_or_none()
    if status is None:
        raise LookupError("no such connection")
    if status != CONNECTION_HELD:
        return False
    now = utcnow()
    connection.execute(
        update(pms_connections)
        .where(pms_connections.c.id == connection_id)
        .values(status=CONNECTION_ACTIVE, held_reason=RELEASED, held_at=now, updated_at=now)
    )
    return True


def clear_release(connection: Connection, connection_id: str) -> None:
    """The released connection's next calendar has applied: back to an ordinary active one."""
    connection.execute(
        update(pms_connections)
        .where(pms_connections.c.id == connection_id, pms_connections.c.held_reason == RELEASED)
        .values(held_reason=None, held_at=None, updated_at=utcnow())
    )


def clear_hold(connection: Connection, connection_id: str) -> None:
    """A held feed whose calendar is whole again: an ordinary active connection."""
    connection.execute(
        update(pms_connections)
        .where(pms_connections.c.id == connection_id)
        .values(status=CONNECTION_ACTIVE, held_reason=None, held_at=None, updated_at=utcnow())
    )
