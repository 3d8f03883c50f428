"""Hostaway's poll sources, one run per connection (`PollContext.instance`).

Both walk a list by Hostaway's `afterId` cursor (`GET /v1/<list>?limit=100&afterId=<id>`:
entries with a greater id, in id order; `offset` is deprecated), answered
`{status, result: [...], count, limit}`. The cursor is the last id seen, per source:

- `reservations`: the initial (full) sync, then only reservations newer than the last id
  (one a missed webhook did not bring). Hostaway has no `updatedSince`: **changes to a
  reservation after the initial sync arrive by webhook** (`reservation.updated`).
- `listings`: after the last page the cursor goes back to "0", so the next run walks every
  listing again; an unchanged listing is a duplicate (its id holds a hash of its bytes), a
  changed one a new `listing.polled` event.

Each entry is stored as its own event, the bare object with sorted keys, keyed
`<connection>:<reservation|listing>:<id>:<hash>`; an entry without an id is kept dead-lettered.
"""

from __future__ import annotations

from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent, malformed_entry
from integration_hub.connectors.hostaway import NAME
from integration_hub.connectors.hostaway.api import NoCredentials, api_for
from integration_hub.connectors.hostaway.webhook import (
    LISTING_POLLED,
    RESERVATION_POLLED,
    canonical,
)
from integration_hub.connectors.outbound import call_failed, refuse
from integration_hub.connectors.partner import PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id

PAGE_LIMIT = 100  # Hostaway's default and the page the hub asks for
START_OVER = "0"
MAX_CURSOR_DIGITS = 18


def fetch_reservations(context: PollContext, cursor: str | None) -> PollPage:
    return _walk(context, cursor, path="/v1/reservations", kind="reservation",
                 event_type=RESERVATION_POLLED, start_over=False)  # fmt: skip


def fetch_listings(context: PollContext, cursor: str | None) -> PollPage:
    return _walk(context, cursor, path="/v1/listings", kind="listing",
                 event_type=LISTING_POLLED, start_over=True)  # fmt: skip


def _walk(
    context: PollContext,
    cursor: str | None,
    *,
    path: str,
    kind: str,
    event_type: str,
    start_over: bool,
) -> PollPage:
    operation = f"list_{kind}s"
    connection = context.instance
    if not is_instance_id(connection):
        raise refuse(NAME, operation, "a Hostaway poll runs for one connection")
    after = _after(cursor, operation)
    limit = max(1, min(PAGE_LIMIT, context.max_events))
    try:
        answer = api_for(context.calls).get(
            connection, path, operation=operation, params={"limit": limit, "afterId": after}
        )
    except NoCredentials:
        raise refuse(
            NAME, operation, "the connection has no HOSTAWAY_ACCOUNT_ID and HOSTAWAY_API_KEY"
        ) from None
    entries = _entries(answer, operation)[:limit]
    events: list[PartnerEvent] = []
    last = after
    for entry in entries:
        body = canonical(entry)
        entry_id = _id(entry)
        if entry_id is None:
            events.append(malformed_entry(body, f"a Hostaway {kind} without a numeric id"))
            continue
        key = f"{kind}:{entry_id}:{pms.content_hash(body)}"
        events.append(PartnerEvent(pms.connection_event_id(connection, key), event_type, body))
        last = max(last, entry_id)
    more = len(entries) >= limit
    if not more and start_over:
        return PollPage(events, START_OVER, more=False)
    return PollPage(events, str(last) if last != after else None, more=more and last != after)


def _after(cursor: str | None, operation: str) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > MAX_CURSOR_DIGITS:
        raise refuse(NAME, operation, "the stored cursor is not a Hostaway id")
    return int(cursor)


def _entries(answer: dict[str, Any] | None, operation: str) -> list[Any]:
    result = None if answer is None else answer.get("result")
    if answer is None or answer.get("status") != "success" or not isinstance(result, list):
        raise call_failed(NAME, operation, status=200 if answer is not None else 404,
                          message="the answer is not a list of Hostaway's", retryable=True)  # fmt: skip
    return result


def _id(entry: Any) -> int | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
