"""One reservation as one source has it, applied: upserted (the newest `source_updated_at`
wins; equal or missing times apply in event order), linked to its stay, recorded in its
history, and the stay's change told as `reservation.created|changed|cancelled`.

A replay is told by the history: an event that left its row on the reservation changes nothing
again. The unified events never carry guest data, and the history names changed guest fields
without their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.connectors.base import InternalEventDraft
from integration_hub.metrics import RESERVATIONS_APPLIED
from integration_hub.orchestration.reservation_events import jsonable, merged_event, stay_events
from integration_hub.orchestration.reservation_places import ensure_listing
from integration_hub.storage import dialect, stays
from integration_hub.storage import reservations as rows

_NOT_HISTORY = frozenset({"source_updated_at"})
# What ties a reservation to a stay (stays.matching_stay): a change of them re-matches.
_MATCHED_BY = ("check_in", "check_out", "channel_code")


@dataclass
class Applied:
    """What applying one reservation did: its history kind (or stale/replayed/unchanged) and
    the unified events it derived."""

    reservation_id: str
    outcome: str
    stay_id: str | None = None
    drafts: list[InternalEventDraft] = field(default_factory=list)


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{field: [before, after]} of the fields that changed; guest fields by name only."""
    changes: dict[str, Any] = {}
    guest: list[str] = []
    for name in rows.SOURCE_FIELDS:
        if name in _NOT_HISTORY or before.get(name) == after.get(name):
            continue
        if name in rows.GUEST_FIELDS:
            guest.append(name)
        else:
            changes[name] = [jsonable(before.get(name)), jsonable(after.get(name))]
    if guest:
        changes["guest_fields"] = guest
    return changes


def _kind(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    if before is None:
        return "created"
    was, now = (
        before["status"] in stays.CANCELLED_STATUSES,
        after["status"] in (stays.CANCELLED_STATUSES),
    )
    if now and not was:
        return "cancelled"
    if was and not now:
        return "restored"
    return "changed"


def _newer_stored(incoming: datetime | None, stored: datetime | None) -> bool:
    """The stored row is newer: an older time, or none against a stored time (sources time
    every fetched or polled body; an untimed one cannot claim to be newer)."""
    return stored is not None and (incoming is None or incoming < stored)


def apply_reservation(
    connection: Connection,
    *,
    event_id: str,
    owner: dict[str, Any],
    source_reservation_id: str,
    fields: dict[str, Any],
    reason: str | None = None,
) -> Applied:
    """Apply `fields` (reservations' source columns) to the reservation of `owner` (its
    pms_connections row) and `source_reservation_id`. `fields["complete"]` False (a lean
    payload) keeps what the stored row knows where the payload says nothing."""
    reservation_id = rows.reservation_id_for(owner["id"], source_reservation_id)
    source = str(fields["source"])
    # The property's lock before the reservation's row lock, the order an admin's link takes
    # them in (else the two could wait on each other).
    property_id, drafts = _locked_property(connection, owner, source, fields["source_listing_id"])
    stored = rows.get_reservation(connection, reservation_id)
    if stored is not None:
        if rows.was_recorded(connection, reservation_id=reservation_id, event_id=event_id):
            return _counted(source, Applied(reservation_id, "replayed", stored["stay_id"], drafts))
        if _newer_stored(fields.get("source_updated_at"), stored["source_updated_at"]):
            rows.record_change(
                connection, reservation_id=reservation_id, event_id=event_id, kind="stale",
                changes={}, source_updated_at=fields.get("source_updated_at"),
            )  # fmt: skip
            return _counted(source, Applied(reservation_id, "stale", stored["stay_id"], drafts))
    if stored is not None and not fields.get("complete", True):
        fields = {
            **{name: stored[name] for name in rows.SOURCE_FIELDS},
            **{name: value for name, value in fields.items() if value is not None},
        }
    values = {name: fields.get(name) for name in rows.SOURCE_FIELDS}
    left: dict[str, Any] | None = None
    if stored is None:
        stay_id, before = _join_stay(connection, reservation_id, property_id, values)
        rows.insert_reservation(
            connection, reservation_id=reservation_id, connection_id=owner["id"],
            source_reservation_id=source_reservation_id, stay_id=stay_id, fields=values,
        )  # fmt: skip
    else:
        stay_id, before, left = _current_stay(connection, stored, property_id, values)
        changed = {n: v for n, v in values.items() if stored[n] != v}
        if changed or stored["stay_id"] != stay_id:
            rows.update_reservation(connection, reservation_id, {**changed, "stay_id": stay_id})
    kind = _kind(stored, values)
    changes = _differences(stored or {}, values)
    if stored is not None and not changes:
        # Recorded all the same: its replay after later changes must be told a replay.
        rows.record_change(
            connection, reservation_id=reservation_id, event_id=event_id, kind="unchanged",
            changes={}, source_updated_at=values.get("source_updated_at"),
        )  # fmt: skip
        return _counted(source, Applied(reservation_id, "unchanged", stay_id, drafts))
    rows.record_change(
        connection, reservation_id=reservation_id, event_id=event_id, kind=kind,
        changes=changes, source_updated_at=values.get("source_updated_at"),
    )  # fmt: skip
    after = stays.refresh_stay(connection, stay_id)
    assert after is not None
    context = {"reservation_id": reservation_id, "source": source, "connection": owner["id"],
               "manager_id": owner["manager_id"]}  # fmt: skip
    pair = _rematched(connection, stored, after, values)
    if pair is None:
        drafts.extend(stay_events(before, after, context, reason=reason))
    else:  # its new dates or code tie it to another stay: one booking, the older stay stays
        survivor, merged = pair
        stays.merge_stays(connection, survivor=survivor["id"], merged=merged["id"])
        kept = stays.get_stay(connection, survivor["id"])
        assert kept is not None
        ours = survivor["id"] == stay_id
        drafts.extend(stay_events(before if ours else survivor, kept, context, reason=reason))
        drafts.append(merged_event(merged, survivor["id"], context))
        stay_id = survivor["id"]
    if left is not None:  # the stay it left follows its other reservations
        rest = stays.refresh_stay(connection, left["id"])
        assert rest is not None
        drafts.extend(stay_events(left, rest, context, reason=reason))
    return _counted(source, Applied(reservation_id, kind, stay_id, drafts))


def _rematched(
    connection: Connection,
    stored: dict[str, Any] | None,
    stay: dict[str, Any],
    values: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(survivor, merged) when a known reservation's new dates or channel code make its stay
    the same booking as another stay of the property (whichever arrived first, the same
    stays come out); None otherwise."""
    if stored is None or all(stored[n] == values[n] for n in _MATCHED_BY):
        return None
    found = stays.matching_stay(
        connection, property_id=stay["property_id"], channel_code=values.get("channel_code"),
        check_in=values["check_in"], check_out=values["check_out"],
        from_calendar=values["source"] == stays.CALENDAR_SOURCE, exclude=stay["id"],
    )  # fmt: skip
    other = None if found is None else stays.get_stay(connection, found)
    if other is None or not stays.same_booking(connection, stay, other):
        return None
    older, newer = sorted((stay, other), key=lambda s: (s["created_at"], s["id"]))
    return older, newer


def _locked_property(
    connection: Connection, owner: dict[str, Any], source: str, listing_id: str
) -> tuple[str, list[InternalEventDraft]]:
    """The listing's property, locked for this transaction (stays are matched per property).
    Read again once locked: an admin's link may have moved the listing meanwhile."""
    property_id, drafts = ensure_listing(
        connection, owner=owner, source=source, source_listing_id=listing_id
    )
    while True:
        dialect.serialize_on(connection, key=f"pms-property:{property_id}")
        now_at, _ = ensure_listing(
            connection, owner=owner, source=source, source_listing_id=listing_id
        )
        if now_at == property_id:
            return property_id, drafts
        property_id = now_at


def _current_stay(
    connection: Connection, stored: dict[str, Any], property_id: str, values: dict[str, Any]
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """The stay of a known reservation, the stay as it was, and the stay it left (if any).
    A reservation moved to a listing of another property takes its stay along when the stay
    is its alone; otherwise it joins (or makes) a stay there."""
    stay_id = stored["stay_id"] or stays.stay_id_for(stored["id"])
    before = stays.get_stay(connection, stay_id)
    if before is None:
        stays.insert_stay(connection, stay_id=stay_id, property_id=property_id, fields=values)
        return stay_id, None, None
    if before["property_id"] == property_id:
        return stay_id, before, None
    if not stays.has_others(connection, stay_id=stay_id, reservation_id=stored["id"]):
        stays.move_stay(connection, stay_id=stay_id, property_id=property_id)
        return stay_id, before, None
    joined, joined_before = _join_stay(
        connection, f"{stored['id']}/{property_id}", property_id, values
    )
    return joined, joined_before, before


def _join_stay(
    connection: Connection, reservation_id: str, property_id: str, values: dict[str, Any]
) -> tuple[str, dict[str, Any] | None]:
    """The stay a new reservation joins (and that stay as it was), or a new one (None)."""
    found = stays.matching_stay(
        connection,
        property_id=property_id,
        channel_code=values.get("channel_code"),
        check_in=values["check_in"],
        check_out=values["check_out"],
        from_calendar=values["source"] == stays.CALENDAR_SOURCE,
    )
    if found is not None:
        return found, stays.get_stay(connection, found)
    stay_id = stays.stay_id_for(reservation_id)
    stays.insert_stay(connection, stay_id=stay_id, property_id=property_id, fields=values)
    return stay_id, None


def _counted(source: str, applied: Applied) -> Applied:
    RESERVATIONS_APPLIED.labels(source, applied.outcome).inc()
    return applied
