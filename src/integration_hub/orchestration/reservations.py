"""The `reservations` handler: every PMS's `pms.*` events into one model.

From what the PMS connectors normalize (connectors/pms.py) it keeps `properties`, `listings`,
`stays`, `reservations` and `reservation_changes` current, in the transaction that completes
its run, and derives the unified events later work reads (subject: the stay or property id):
`reservation.created|changed|cancelled` and `property.upserted|removed`.

- `pms.listing_observed` / `pms.listing_removed`: reservation_places.py.
- `pms.reservation_observed`: reservation_apply.py (newest `source_updated_at` wins; one stay
  per booking however many sources report it, a PMS's fields over a feed's). A lean payload
  (`complete` false) stores what it knows and queues the partner's fetch of the whole.
- `pms.reservation_hinted`: stores nothing; queues the fetch.
- `pms.calendar_observed`: reservation_calendar.py (what vanished is cancelled, unless the
  feed looks broken: then it is held).

Every event names its connection (`pms_connections`); an unknown one is refused for good. The
handler's runs of one connection are serialized (their rules read earlier rows of the same
reservations), and so are its writes to one property's stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection

from integration_hub.connectors import pms
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.errors import HubError
from integration_hub.orchestration import derived_events
from integration_hub.orchestration.outbox import MAX_WORKFLOW_ID, Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.orchestration.reservation_apply import apply_reservation
from integration_hub.orchestration.reservation_calendar import apply_calendar
from integration_hub.orchestration.reservation_places import (
    observe_listing,
    parse_time,
    remove_listing,
)
from integration_hub.storage import dialect, properties

HANDLER = "reservations"
RESERVATION_EVENT_TYPES = pms.SOURCE_EVENT_TYPES


class UnknownConnection(HubError):
    reason = "unknown_connection"


def apply_event(
    connection: Connection,
    event: dict[str, Any],
    *,
    outbox: Outbox,
    hold_share: float,
    handler_names: Callable[[str], Sequence[str]],
) -> HandlerOutcome:
    """Apply one `pms.*` event; `handler_names` finds the handlers of the events it derives
    (handlers.py's `handler_names_for`)."""
    data = event["data"]
    dialect.serialize_on(connection, key=f"pms-connection:{data['connection']}")
    owner = properties.get_connection(connection, data["connection"])
    if owner is None:
        raise UnknownConnection(f"no PMS connection {data['connection']!r}")
    if owner["partner"] != event["partner"]:
        # Each partner verifies its own connections' deliveries: another's event naming this
        # connection must not write into it.
        raise UnknownConnection(
            f"the connection {data['connection']!r} is not one of {event['partner']!r}"
        )
    kind = event["type"]
    drafts: list[InternalEventDraft]
    if kind == pms.LISTING_OBSERVED:
        detail, drafts = observe_listing(connection, data, owner=owner)
    elif kind == pms.LISTING_REMOVED:
        detail, drafts = remove_listing(connection, data, owner=owner)
    elif kind == pms.CALENDAR_OBSERVED:
        detail, drafts = apply_calendar(connection, event, owner=owner, hold_share=hold_share)
    elif kind == pms.RESERVATION_HINTED:
        detail, drafts = _queue_fetch(connection, event, outbox), []
    else:
        detail, drafts = _observe_reservation(connection, event, owner=owner, outbox=outbox)
    derived_events.emit(
        connection, cause=event, handler=HANDLER, drafts=drafts, handler_names=handler_names
    )
    if detail == "stale":
        return Skipped("an older version than the stored one")
    return detail


def _queue_fetch(connection: Connection, event: dict[str, Any], outbox: Outbox) -> str:
    """Queue the source's fetch of the whole reservation, once per event."""
    data = event["data"]
    request = pms.FetchReservation(
        connection=data["connection"], source_reservation_id=data["source_reservation_id"]
    )
    queued = outbox.start(
        connection,
        workflow=pms.fetch_workflow(data["source"]),
        workflow_id=fetch_run_id(data["source"], request, event["id"]),
        dedup=event["id"],
        input=request,
    )
    return "fetch queued" if queued else "fetch queued already"


def fetch_run_id(source: str, request: pms.FetchReservation, event_id: str) -> str:
    """The fetch's workflow id: `pms.fetch_workflow_id` and the event. A workflow id names one
    run ever (the outbox never starts a closed id again), so one id per reservation would fetch
    it once for good and never after its next lean change; one per event fetches each change
    once. Past the column's 255 characters, its SHA-256 stands for it."""
    run_id = f"{pms.fetch_workflow_id(source, request)}/{event_id}"
    if len(run_id) <= MAX_WORKFLOW_ID:
        return run_id
    return f"pms.fetch/{source}/sha256-{hashlib.sha256(run_id.encode()).hexdigest()}"


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "check_in": date.fromisoformat,
    "check_out": date.fromisoformat,
    "booked_at": parse_time,
    "source_updated_at": parse_time,
}


def reservation_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A `pms.reservation_observed`'s data as reservations' source columns."""
    fields = {name: data.get(name) for name in _SOURCE_KEYS}
    for name, convert in _CONVERT.items():
        if fields[name] is not None:
            fields[name] = convert(fields[name])
    guest = data.get("guest") or {}
    fields.update(
        guest_name=guest.get("name"), guest_email=guest.get("email"), guest_phone=guest.get("phone")
    )
    return fields


_SOURCE_KEYS = (
    "source", "source_listing_id", "channel", "channel_code", "status", "raw_status",
    "is_block", "check_in", "check_out", "check_in_time", "check_out_time", "timezone",
    "adults", "children", "infants", "guests_total", "total_minor", "currency", "booked_at",
    "source_updated_at", "complete",
)  # fmt: skip


def _observe_reservation(
    connection: Connection, event: dict[str, Any], *, owner: dict[str, Any], outbox: Outbox
) -> tuple[str, list[InternalEventDraft]]:
    data = event["data"]
    applied = apply_reservation(
        connection,
        event_id=event["id"],
        owner=owner,
        source_reservation_id=data["source_reservation_id"],
        fields=reservation_fields(data),
    )
    detail = f"reservation {applied.reservation_id} {applied.outcome}"
    if applied.stay_id is not None:
        detail += f" (stay {applied.stay_id})"
    if not data["complete"]:
        detail += "; " + _queue_fetch(connection, event, outbox)
    if applied.outcome == "stale":
        return "stale", applied.drafts
    return detail, applied.drafts
