"""The reconciliation poll of one connection: what webhooks missed (Guesty retries for a while,
then a delivery is only replayable from its dashboard) comes in from the reservations list.

`GET /v1/reservations` with `filters=[{"field": "lastUpdatedAt", "operator": "$gte", "value":
<cursor time>}]`, `sort=lastUpdatedAt`, `limit`, `skip` and `fields` (the ones the unified
model reads, space-separated), answered `{"results": [...], "count", "limit", "skip"}`. pms.md:
this list is the one with an update-time filter; Guesty deprecates it (removal announced for
1 March 2027) for a search without one, so the webhooks stay the primary path.

The cursor is `<lastUpdatedAt>|<how many at that time were taken>`: reservations updated in the
same millisecond are skipped by count, so a full page of equal times still moves on. Each
reservation is one `reservation.polled` event, keyed by its id and a hash of its bytes, so an
unchanged one fetched again is a duplicate.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.guesty import NAME
from integration_hub.connectors.guesty.api import GuestyApi
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.connectors.guesty.webhook import POLLED_TYPE
from integration_hub.connectors.outbound import call_failed
from integration_hub.connectors.partner import CallsContext, PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id

MAX_LIMIT = 100  # Guesty's largest page
FIELDS = " ".join(
    ["_id", "listingId", "status", "confirmationCode", "source", "checkIn", "checkOut", "checkInDateLocalized", "checkOutDateLocalized", "plannedArrival", "plannedDeparture", "guestsCount", "numberOfGuests", "guest.fullName", "guest.email", "guest.phone", "money.currency", "money.hostPayout", "money.totalPaid", "listing.timezone", "createdAt", "lastUpdatedAt"]
)  # fmt: skip
MAX_TIME = 40

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


def parse_cursor(cursor: str | None) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    since, _, taken = cursor.rpartition("|")
    return (since or None), int(taken) if taken.isdigit() else 0


def next_cursor(since: str | None, taken: int, results: list[dict[str, Any]]) -> str | None:
    times = [r.get("lastUpdatedAt") for r in results]
    last = times[-1] if times else None
    if not isinstance(last, str) or not last or len(last) > MAX_TIME:
        return None  # nothing (or nothing usable) to move on from: keep the cursor
    same = sum(1 for t in times if t == last)
    return f"{last}|{same + (taken if last == since else 0)}"


def fetch_page(api: GuestyApi, connection: str, cursor: str | None, limit: int) -> PollPage:
    if not is_instance_id(connection) or api.credentials(connection) is None:
        return PollPage([], cursor=None)  # no such connection, or not set up yet: nothing due
    since, taken = parse_cursor(cursor)
    params = {"fields": FIELDS, "sort": "lastUpdatedAt", "limit": str(min(limit, MAX_LIMIT)),
              "skip": str(taken)}  # fmt: skip
    if since is not None:
        condition = [{"field": "lastUpdatedAt", "operator": "$gte", "value": since}]
        params["filters"] = orjson.dumps(condition).decode()
    operation = "reservations.list"
    response = api.get(connection, operation, "/reservations", params)
    answer = orjson.loads(response.content) if response is not None else None
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        raise call_failed(NAME, operation, status=None, message="the answer holds no results")
    reservations = [r for r in results[:MAX_LIMIT] if isinstance(r, dict)]
    events = []
    for reservation in reservations:
        body = orjson.dumps(reservation)
        key = f"polled:{pms.bounded(reservation.get('_id'), pms.MAX_ID)}:{pms.content_hash(body)}"
        events.append(PartnerEvent(pms.connection_event_id(connection, key), POLLED_TYPE, body))
    more = len(results) >= min(limit, MAX_LIMIT)
    return PollPage(events, cursor=next_cursor(since, taken, reservations), more=more)


def fetch(context: PollContext, cursor: str | None) -> PollPage:
    return fetch_page(_api(context.calls), context.instance, cursor, context.max_events)
