"""The unified events of a stay's change (`reservation.created|changed|cancelled`, subject the
stay id): what applying a reservation, re-matching its stay, or an admin's link tell. They never
carry guest data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from integration_hub.connectors.base import InternalEventDraft
from integration_hub.orchestration.reservation_places import now_text
from integration_hub.storage import stays

CREATED, CHANGED, CANCELLED = "reservation.created", "reservation.changed", "reservation.cancelled"
# What a stay's change is about (`changed` of reservation.changed), in the schema's order.
TRACKED = (
    "check_in", "check_out", "check_in_time", "check_out_time", "status", "guests_total",
    "is_block",
)  # fmt: skip
_PREVIOUS = ("status", "check_in", "check_out", "check_in_time", "check_out_time")
MERGED = "merged"


def jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _data(after: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "stay_id": after["id"], "property_id": after["property_id"],
        "manager_id": context["manager_id"], "reservation_id": context["reservation_id"],
        "source": context["source"], "connection": context["connection"],
        "channel": after["channel"], "channel_code": after["channel_code"],
        "status": after["status"], "is_block": bool(after["is_block"]),
        "check_in": after["check_in"].isoformat(), "check_out": after["check_out"].isoformat(),
        "check_in_time": after["check_in_time"], "check_out_time": after["check_out_time"],
        "timezone": after["timezone"], "guests_total": after["guests_total"],
    }  # fmt: skip


def merged_event(
    gone: Mapping[str, Any], survivor_id: str, context: Mapping[str, Any]
) -> InternalEventDraft:
    """A stay merged into `survivor_id` (one booking it turned out to be): it is gone, told as
    cancelled with reason `merged` and the stay that carries the booking on."""
    data = _data(gone, context)
    data.update(
        status="cancelled", previous={name: jsonable(gone[name]) for name in _PREVIOUS},
        reason=MERGED, merged_into=survivor_id,
    )  # fmt: skip
    return InternalEventDraft(CANCELLED, gone["id"], now_text(), data)


def stay_events(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    reason: str | None,
) -> list[InternalEventDraft]:
    """The unified event of a stay's change: created (a stay new to the hub, whatever its
    status: turnover work filters), cancelled (into cancelled/declined/expired), or changed
    (dates, times, status, guests, block; a restored stay too); none when nothing of that
    changed."""
    data = _data(after, context)
    if before is None:
        return [InternalEventDraft(CREATED, after["id"], now_text(), data)]
    changed = [name for name in TRACKED if before[name] != after[name]]
    if before["property_id"] != after["property_id"]:
        changed.append("property_id")
    if not changed:
        return []
    previous = {name: jsonable(before[name]) for name in _PREVIOUS}
    was = before["status"] in stays.CANCELLED_STATUSES
    if after["status"] in stays.CANCELLED_STATUSES and not was:
        data.update(previous=previous, reason=reason or after["status"])
        return [InternalEventDraft(CANCELLED, after["id"], now_text(), data)]
    data.update(previous=previous, changed=changed)
    return [InternalEventDraft(CHANGED, after["id"], now_text(), data)]
