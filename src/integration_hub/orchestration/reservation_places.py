"""Listings and their properties, from `pms.listing_observed` / `pms.listing_removed` (and a
reservation of a listing not seen yet).

A listing seen first gets a property of its own (`storage/properties.py` `property_id_for`),
which follows the listing while it is that listing's own: an admin's link moves a listing onto
another property, whose fields its own listing keeps. A time zone the PMS does not give is
derived offline from the coordinates (timezonefinder, built once on first use: loading its
data takes a moment and memory no process that never sees a listing should pay).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.connectors import pms
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.storage import properties
from integration_hub.storage.rows import utcnow

PROPERTY_UPSERTED = "property.upserted"
PROPERTY_REMOVED = "property.removed"
_PROPERTY_EVENT_FIELDS = (
    "name", "address", "latitude", "longitude", "timezone", "check_in_time", "check_out_time",
)  # fmt: skip

_finder_lock = threading.Lock()
_finder: Any = None


def timezone_at(latitude: float, longitude: float) -> str | None:
    """The IANA zone at a point (None at sea or off the map), from timezonefinder's data."""
    global _finder
    with _finder_lock:
        if _finder is None:
            from timezonefinder import TimezoneFinder  # loads its data: once, on first use

            _finder = TimezoneFinder()
        finder = _finder
    zone = finder.timezone_at(lng=longitude, lat=latitude)
    return None if zone is None or zone.startswith("Etc/") else str(zone)


def parse_time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def now_text() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


def _property_event(place: dict[str, Any]) -> InternalEventDraft:
    data = {name: place[name] for name in _PROPERTY_EVENT_FIELDS}
    data.update(property_id=place["id"], manager_id=place["manager_id"])
    return InternalEventDraft(PROPERTY_UPSERTED, place["id"], now_text(), data)


def _place_of(data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """What a listing event says of its place, and where its time zone came from."""
    fields = {name: data.get(name) for name in properties.PLACE_FIELDS}
    fields["name"] = pms.bounded(fields["name"], pms.MAX_NAME)
    fields["address"] = pms.bounded(fields["address"], pms.MAX_ADDRESS)
    source: str | None = "pms" if fields["timezone"] else None
    if source is None and fields["latitude"] is not None and fields["longitude"] is not None:
        fields["timezone"] = timezone_at(fields["latitude"], fields["longitude"])
        source = "coordinates" if fields["timezone"] else None
    return fields, source


def ensure_listing(
    connection: Connection, *, owner: dict[str, Any], source: str, source_listing_id: str
) -> tuple[str, list[InternalEventDraft]]:
    """The property of a listing, making the listing (named by its id) and its property when
    a reservation names a listing the hub has not seen."""
    listing = properties.get_listing(
        connection, connection_id=owner["id"], source_listing_id=source_listing_id
    )
    if listing is not None:
        return str(listing["property_id"]), []
    property_id = properties.property_id_for(owner["id"], source_listing_id)
    fields = {"name": source_listing_id[: pms.MAX_NAME]}
    drafts = []
    if properties.insert_property(
        connection, property_id=property_id, manager_id=owner["manager_id"], fields=fields,
        timezone_source=None,
    ):  # fmt: skip
        place = properties.get_property(connection, property_id)
        assert place is not None
        drafts.append(_property_event(place))
    properties.insert_listing(
        connection, connection_id=owner["id"], source_listing_id=source_listing_id,
        source=source, property_id=property_id, fields={},
    )  # fmt: skip
    return property_id, drafts


def observe_listing(
    connection: Connection, data: dict[str, Any], *, owner: dict[str, Any]
) -> tuple[str, list[InternalEventDraft]]:
    """Upsert a listing (the newest `source_updated_at` wins) and its own property."""
    listing_id = data["source_listing_id"]
    updated_at = parse_time(data.get("source_updated_at"))
    listing = properties.get_listing(
        connection, connection_id=owner["id"], source_listing_id=listing_id
    )
    if listing is not None and _older(updated_at, listing["source_updated_at"]):
        return "stale", []
    fields, timezone_source = _place_of(data)
    listing_fields = {**fields, "timezone": data.get("timezone"), "source_updated_at": updated_at}
    own_id = properties.property_id_for(owner["id"], listing_id)
    if listing is None:
        made = properties.insert_property(
            connection, property_id=own_id, manager_id=owner["manager_id"],
            fields={**fields, "name": fields["name"] or listing_id[: pms.MAX_NAME]},
            timezone_source=timezone_source,
        )  # fmt: skip
        properties.insert_listing(
            connection, connection_id=owner["id"], source_listing_id=listing_id,
            source=data["source"], property_id=own_id, fields=listing_fields,
        )  # fmt: skip
        if made:
            place = properties.get_property(connection, own_id)
            assert place is not None
            return f"listing made with property {own_id}", [_property_event(place)]
    properties.update_listing(
        connection, connection_id=owner["id"], source_listing_id=listing_id,
        values={**listing_fields, "removed_at": None},
    )  # fmt: skip
    property_id = own_id if listing is None else str(listing["property_id"])
    if property_id != own_id:
        return f"listing updated (property {property_id} kept: linked)", []
    return _update_own_property(connection, property_id, fields, timezone_source)


def _update_own_property(
    connection: Connection,
    property_id: str,
    fields: dict[str, Any],
    timezone_source: str | None,
) -> tuple[str, list[InternalEventDraft]]:
    place = properties.get_property(connection, property_id)
    assert place is not None
    # What the listing does not say (no coordinates this time) leaves the property as it was.
    values = {name: value for name, value in fields.items() if value is not None}
    if timezone_source is not None:
        values["timezone_source"] = timezone_source
    changed = {name: value for name, value in values.items() if place[name] != value}
    if place["removed_at"] is not None:
        changed["removed_at"] = None
    if not changed:
        return f"listing updated (property {property_id} unchanged)", []
    properties.update_property(connection, property_id, changed)
    place.update(changed)
    return f"property {property_id} updated", [_property_event(place)]


def _older(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


def remove_listing(
    connection: Connection, data: dict[str, Any], *, owner: dict[str, Any]
) -> tuple[str, list[InternalEventDraft]]:
    """Mark a listing removed; its property with no live listing left is removed too."""
    listing = properties.get_listing(
        connection, connection_id=owner["id"], source_listing_id=data["source_listing_id"]
    )
    if listing is None:
        return "unknown listing: nothing to remove", []
    if listing["removed_at"] is None:
        properties.update_listing(
            connection, connection_id=owner["id"],
            source_listing_id=data["source_listing_id"], values={"removed_at": utcnow()},
        )  # fmt: skip
    property_id = str(listing["property_id"])
    if not properties.remove_if_unlisted(connection, property_id):
        return f"listing removed (property {property_id} kept)", []
    reason = "listing_merged" if data.get("merged_into") else "listing_removed"
    draft = InternalEventDraft(
        PROPERTY_REMOVED,
        property_id,
        now_text(),
        {"property_id": property_id, "manager_id": owner["manager_id"], "reason": reason},
    )
    return f"listing removed with property {property_id}", [draft]
