"""Hostaway's poll sources, one run per connection (`PollContext.instance`).

`reservations` and `listings` walk a list by Hostaway's `afterId` cursor
(`GET /v1/<list>?limit=100&afterId=<id>`: entries with a greater id, in id order), answered
`{status, result: [...], count, limit}`. Their cursor is the greatest id seen:

- `reservations`: the initial (full) sync, then only reservations newer than the last id.
- `listings`: after the last page the cursor goes back to "0", so the next run walks every
  listing again; an unchanged listing is a duplicate (its id holds a hash of its bytes), a
  changed one a new `listing.polled` event. Each page covers the ids (after, greatest on the
  page] (the last page: every id past `after`): a listing the hub keeps in that range and the
  page lacks was deleted at Hostaway (`vanished.py`: a `listing.vanished` event).
- `changes` (`changes.py`): what changed since the last run, by `sortOrder=updatedOn`, so a
  change a webhook never brought is caught up.

Each entry is stored as its own event, the bare object with sorted keys, keyed
`<connection>:<reservation|listing>:<id>:<hash>`; an entry without an id is kept dead-lettered.
"""

from __future__ import annotations

from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent, malformed_entry
from integration_hub.connectors.hostaway import NAME
from integration_hub.connectors.hostaway.api import NoCredentials, api_for
from integration_hub.connectors.hostaway.vanished import vanished_listings
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
MAX_ID_DIGITS = 18


def fetch_reservations(context: PollContext, cursor: str | None) -> PollPage:
    return _walk(context, cursor, path="/v1/reservations", kind="reservation",
                 event_type=RESERVATION_POLLED, start_over=False)  # fmt: skip


def fetch_listings(context: PollContext, cursor: str | None) -> PollPage:
    return _walk(context, cursor, path="/v1/listings", kind="listing",
                 event_type=LISTING_POLLED, start_over=True)  # fmt: skip


def connection_of(context: PollContext, operation: str) -> str:
    if not is_instance_id(context.instance):
        raise refuse(NAME, operation, "a Hostaway poll runs for one connection")
    return context.instance


def listed(
    context: PollContext, path: str, operation: str, params: dict[str, str | int]
) -> list[Any]:
    """The `result` list of one page of a Hostaway list (every entry: none is dropped)."""
    try:
        answer = api_for(context.calls).get(
            context.instance, path, operation=operation, params=params
        )
    except NoCredentials:
        raise refuse(
            NAME, operation, "the connection has no HOSTAWAY_ACCOUNT_ID and HOSTAWAY_API_KEY"
        ) from None
    result = None if answer is None else answer.get("result")
    if answer is None or answer.get("status") != "success" or not isinstance(result, list):
        raise call_failed(NAME, operation, status=200 if answer is not None else 404,
                          message="the answer is not a list of Hostaway's", retryable=True)  # fmt: skip
    return result


def entry_event(connection: str, kind: str, event_type: str, entry: Any) -> PartnerEvent:
    body = canonical(entry)
    entry_id = entry_id_of(entry)
    if entry_id is None:
        return malformed_entry(body, f"a Hostaway {kind} without a numeric id")
    key = f"{kind}:{entry_id}:{pms.content_hash(body)}"
    return PartnerEvent(pms.connection_event_id(connection, key), event_type, body)


def entry_id_of(entry: Any) -> int | None:
    """Hostaway's id of an entry: a number, or a string of digits; None when neither."""
    value = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value) if len(value) <= MAX_ID_DIGITS else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


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
    connection = connection_of(context, operation)
    after = _after(cursor, operation)
    limit = max(1, min(PAGE_LIMIT, context.max_events))
    entries = listed(context, path, operation, {"limit": limit, "afterId": after})
    events = [entry_event(connection, kind, event_type, entry) for entry in entries]
    ids = [i for i in map(entry_id_of, entries) if i is not None and i > after]
    last = max(ids, default=after)
    more = len(entries) >= limit
    if more and last == after:
        # Hostaway answered a full page and none of it moves the walk on: say so rather than
        # ask for the same page again on every run.
        raise call_failed(NAME, operation, status=200, retryable=False,
                          message="a full page without a usable id past the cursor")  # fmt: skip
    if start_over:
        upto = last if more else None
        events += vanished_listings(context.calls.engine, connection, after=after, upto=upto,
                                    seen=set(ids), first_page_empty=not entries and after == 0)  # fmt: skip
        if not more:
            return PollPage(events, START_OVER, more=False)
    return PollPage(events, str(last) if last != after else None, more=more)


def _after(cursor: str | None, operation: str) -> int:
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > MAX_ID_DIGITS:
        raise refuse(NAME, operation, "the stored cursor is not a Hostaway id")
    return int(cursor)
