"""The reconciliation poll of one connection: what webhooks missed (Guesty retries for a while,
then a delivery is only replayable from its dashboard) comes in from the reservations list.

`GET /v1/reservations` with `filters=[{"field": "lastUpdatedAt", "operator": "$gte", "value":
<cursor time>}]`, `sort=lastUpdatedAt`, `limit`, `skip` and `fields` (the ones the unified
model reads, space-separated), answered `{"results": [...], "count", "limit", "skip"}`. pms.md:
this list is the one with an update-time filter; Guesty deprecates it (removal announced for
1 March 2027) for a search without one, so the webhooks stay the primary path.

The list is sorted by lastUpdatedAt, and a reservation that changes while the hub pages moves
to the end of it: a skip counted across pages would then pass over one never seen. So a page
normally starts at skip 0 from the last page's newest time (`$gte`): what comes again is the
same bytes, the same id, a duplicate. Only while a whole page shares one time (a bulk update)
does the cursor count (`<time>|<taken>|<last id taken>`), and the next page starts one before
(skip taken - 1) so its first row must be that last id: when it is not, the set shifted under
the count and the run re-reads that time from skip 0 (duplicates, nothing lost), at most
`MAX_RESTARTS` times per time (then it counts on: ties ordered differently on every query
must not hold the poll at one time; documented limit). A page whose
last reservation has no lastUpdatedAt moves on by count the same way. Each reservation is one
`reservation.polled` event, keyed by its id and a hash of its bytes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.guesty import NAME
from integration_hub.connectors.guesty.api import GuestyApi
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.connectors.guesty.webhook import POLLED_TYPE
from integration_hub.connectors.outbound import call_failed, refuse
from integration_hub.connectors.partner import CallsContext, PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id

MAX_LIMIT = 100  # Guesty's largest page
FIELDS = " ".join(
    ["_id", "listingId", "status", "confirmationCode", "source", "checkIn", "checkOut", "checkInDateLocalized", "checkOutDateLocalized", "plannedArrival", "plannedDeparture", "guestsCount", "numberOfGuests", "guest.fullName", "guest.email", "guest.phone", "money.currency", "money.hostPayout", "money.totalPaid", "money.balanceDue", "listing.timezone", "createdAt", "lastUpdatedAt"]
)  # fmt: skip
MAX_TIME = 40
MAX_RESTARTS = 3  # re-reads of one time's run before counting without the check

_apis: dict[int, tuple[CallsContext, GuestyApi]] = {}
_apis_lock = threading.Lock()


def _api(context: CallsContext) -> GuestyApi:
    """One client per worker's calls context: its limits and connections are shared by runs."""
    with _apis_lock:
        found = _apis.get(id(context))
        if found is None or found[0] is not context:
            api = GuestyApi(context.settings, context.secrets, context.engine, GuestySettings())
            found = _apis[id(context)] = (context, api)
        return found[1]


def close_api(context: CallsContext) -> None:
    """Close and forget the client of `context` (a worker that stops, a test)."""
    with _apis_lock:
        found = _apis.pop(id(context), None)
    if found is not None:
        found[1].close()


@dataclass(frozen=True, slots=True)
class Cursor:
    since: str | None = None  # the `$gte` time of the next query
    taken: int = 0  # rows at `since` already taken (a run of equal times only)
    anchor: str | None = None  # the id of the last row taken, checked at skip taken - 1
    restarts: int = 0  # re-reads of this time's run after a failed check (bounded)

    def dumps(self) -> str:
        parts = [self.since or "", str(self.taken), self.anchor or "", str(self.restarts)]
        return "|".join(parts[: 4 if self.restarts else 3 if self.anchor else 2])

    @classmethod
    def loads(cls, cursor: str | None) -> Cursor:
        parts = (cursor or "").split("|")
        since, taken = parts[0] or None, parts[1] if len(parts) > 1 else ""
        anchor = parts[2] if len(parts) > 2 else ""
        restarts = parts[3] if len(parts) > 3 else ""
        count = int(taken) if taken.isdigit() else 0
        return cls(since, count, (anchor or None) if count else None,
                   int(restarts) if restarts.isdigit() else 0)  # fmt: skip


def _time(reservation: dict[str, Any]) -> str | None:
    value = reservation.get("lastUpdatedAt")
    return value if isinstance(value, str) and value and len(value) <= MAX_TIME else None


def _id(reservation: dict[str, Any]) -> str | None:
    found = pms.bounded(reservation.get("_id"), pms.MAX_ID)
    return found if found is None or "|" not in found else None  # never splits a cursor


def next_cursor(state: Cursor, fresh: list[dict[str, Any]], *, full: bool = True) -> Cursor:
    """Where the next page starts, after `fresh` (the rows past the anchor) were taken;
    `full`: the page was as long as asked (more may share its last time)."""
    if not fresh:
        return state
    times = {_time(r) for r in fresh}
    last_time, last_id = _time(fresh[-1]), _id(fresh[-1])
    if last_time is not None and (len(times) > 1 or not full):
        return Cursor(last_time)  # from the newest time again, skip 0: repeats are duplicates
    known = sorted(t for t in times if t is not None)
    if last_time is None and known and known[-1] != state.since:
        return Cursor(known[-1])  # the last row has no time: move on to the newest one seen
    if last_id is None:
        return state  # nothing to anchor on: the same page again (its rows are duplicates)
    # One time across the page (or none to move on from): count, anchored on the last id.
    if last_time is not None and last_time != state.since:
        return Cursor(last_time, len(fresh), last_id)
    return Cursor(state.since, state.taken + len(fresh), last_id, state.restarts)


def fetch_page(api: GuestyApi, connection: str, cursor: str | None, limit: int) -> PollPage:
    operation = "reservations.list"
    if not is_instance_id(connection):
        raise refuse(NAME, operation, "a Guesty poll runs per connection")
    if api.credentials(connection) is None:
        raise refuse(NAME, operation, "the connection has no client id and secret")
    state = Cursor.loads(cursor)
    size = min(limit, MAX_LIMIT)
    skip = state.taken - 1 if state.anchor else state.taken
    params = {"fields": FIELDS, "sort": "lastUpdatedAt", "limit": str(size), "skip": str(skip)}
    if state.since is not None:
        condition = [{"field": "lastUpdatedAt", "operator": "$gte", "value": state.since}]
        params["filters"] = orjson.dumps(condition).decode()
    response = api.get(connection, operation, "/reservations", params)
    answer = orjson.loads(response.content) if response is not None else None
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        raise call_failed(NAME, operation, status=None, message="the answer holds no results")
    reservations = [r for r in results[:MAX_LIMIT] if isinstance(r, dict)]
    events = []
    for reservation in reservations:
        body = orjson.dumps(reservation)
        key = f"polled:{_id(reservation)}:{pms.content_hash(body)}"
        events.append(PartnerEvent(pms.connection_event_id(connection, key), POLLED_TYPE, body))
    more = len(results) >= size
    if state.anchor:
        first = reservations[0] if reservations else {}
        shifted = _id(first) != state.anchor or _time(first) != state.since
        if shifted and state.restarts < MAX_RESTARTS:
            # The run shifted under the count: read this time again from its first row.
            restart = Cursor(state.since, restarts=state.restarts + 1)
            return PollPage(events, restart.dumps(), more=True)
        # Checked (or, after MAX_RESTARTS, taken as is: a run that keeps changing, or ties
        # Guesty orders differently each time, must not hold the poll at one time forever).
        reservations = reservations[1:]
    moved = next_cursor(state, reservations, full=more)
    return PollPage(events, moved.dumps() if moved != state else cursor, more=more)


def fetch(context: PollContext, cursor: str | None) -> PollPage:
    return fetch_page(_api(context.calls), context.instance, cursor, context.max_events)
