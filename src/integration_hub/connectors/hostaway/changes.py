"""The `changes` poll: reservations changed since the last run, so a change whose webhook never
came (Hostaway down, the hub down past Hostaway's retries, a webhook never configured) is caught up.

`GET /v1/reservations?sortOrder=updatedOn&latestActivityStart=<date>&limit=100&offset=<n>`:
reservations by last modification, oldest first, from a date (Hostaway's filter is a date, so
the page starts at that day's first change; entries older than the start are skipped here).
The start is the newest `updatedOn` the last run saw minus `OVERLAP` (a change committed late at
Hostaway, clocks apart); the overlap is seen twice, and its entries are duplicates, keyed like
the `reservations` walk's (`<connection>:reservation:<id>:<hash of the object>`). A first run
starts `OVERLAP` before now: the `reservations` walk does the initial sync.

The cursor: `<newest updatedOn>` between runs; within a run `<since>|<offset>|<newest>`, so each
page of one run asks the same filter at the next offset (`afterId` does not go with this order).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.hostaway import NAME, mapping
from integration_hub.connectors.hostaway.polls import PAGE_LIMIT, connection_of, entry_event, listed
from integration_hub.connectors.hostaway.webhook import RESERVATION_POLLED
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.partner import PollContext, PollPage

OPERATION = "list_changed_reservations"
OVERLAP = timedelta(hours=1)
STAMP = "%Y-%m-%dT%H:%M:%S"
MAX_OFFSET = 1_000_000


def fetch_changes(context: PollContext, cursor: str | None) -> PollPage:
    connection = connection_of(context, OPERATION)
    since, offset, newest = _parsed(cursor)
    since = since or datetime.now(UTC).replace(microsecond=0)
    start = since - OVERLAP
    limit = max(1, min(PAGE_LIMIT, context.max_events))
    params: dict[str, str | int] = {
        "sortOrder": "updatedOn",
        "latestActivityStart": start.date().isoformat(),
        "limit": limit,
        "offset": offset,
    }
    entries = listed(context, "/v1/reservations", OPERATION, params)
    events: list[PartnerEvent] = []
    for entry in entries:
        updated = mapping.utc_time(entry.get("updatedOn")) if isinstance(entry, dict) else None
        if updated is not None and updated < start:
            continue  # before the start, on the start's day: seen by an earlier run
        if updated is not None:
            newest = max(newest or updated, updated)
        events.append(entry_event(connection, "reservation", RESERVATION_POLLED, entry))
    if len(entries) >= limit and offset + len(entries) <= MAX_OFFSET:
        following = f"{_stamp(since)}|{offset + len(entries)}|{_stamp(newest or since)}"
        return PollPage(events, following, more=True)
    return PollPage(events, _stamp(max(newest or since, since)), more=False)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STAMP)


def _parsed(cursor: str | None) -> tuple[datetime | None, int, datetime | None]:
    if not cursor:
        return None, 0, None
    parts = cursor.split("|")
    try:
        if len(parts) == 1:
            return _moment(parts[0]), 0, None
        if len(parts) == 3 and parts[1].isascii() and parts[1].isdigit():
            return _moment(parts[0]), min(int(parts[1]), MAX_OFFSET), _moment(parts[2])
    except ValueError:
        pass
    raise refuse(NAME, OPERATION, "the stored cursor is not a changes cursor")


def _moment(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=UTC)
