"""Lodgify's poll sources, one run per connection (`PollContext.instance`).

Bookings: `GET /v2/reservations/bookings?updatedSince=<since>&page=<n>&size=50&includeCount=true
&stayFilter=All` answers `{count, items}`. The cursor is compact JSON: `since` (the query's
updatedSince), `started` (when its page 1 was asked for), `page` (the next page of that query)
and `newest` (the newest `updated_at` seen). Once a query's last page is stored, the next
query asks from min(newest, started) minus `OVERLAP`, page 1: a booking changed while the hub
paged moves between pages, and its change is after `started`; `updated_at` is not a confirmed
field (pms.md §3), so without it `started` alone decides. What comes again is the same bytes,
the same id, a duplicate. A booking without `updated_at` is keyed with the query's since too
(one that changes and changes back is stored again) and counted in the log. A connection's
first poll asks HUB_LODGIFY_FIRST_POLL_DAYS back. Times are sent as Lodgify's examples write
them: UTC without an offset.

Properties: `GET /v2/properties?page=<n>&size=50`, every page each run (an unchanged property
is a duplicate); the cursor holds the next page while paging.

Each event's body is Lodgify's JSON for one booking or property (sorted keys, so the same object
always has the same bytes) under `<connection>:booking:<id>:<hash>`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.lodgify import NAME, PAGE_SIZE
from integration_hub.connectors.lodgify.api import NoCredentials, api_for
from integration_hub.connectors.lodgify.mapping import utc_time
from integration_hub.connectors.lodgify.webhook import BOOKING_POLLED, PROPERTY_POLLED
from integration_hub.connectors.outbound import call_failed, refuse
from integration_hub.connectors.partner import PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id

log = structlog.get_logger(__name__)
MAX_PAGE = 100_000
OVERLAP = timedelta(minutes=5)  # clocks and commits: Lodgify's update times vs our start


def _state(cursor: str | None) -> dict[str, Any]:
    """A stored cursor; a missing or unreadable one starts over (duplicates, nothing lost)."""
    try:
        state = orjson.loads(cursor) if cursor else {}
    except orjson.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


def _page_number(state: dict[str, Any]) -> int:
    page = state.get("page")
    return page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1


def _fetch(context: PollContext, operation: str, path: str,
           params: dict[str, str]) -> tuple[list[Any], int | None]:  # fmt: skip
    """The page's items and Lodgify's count of them all (None when it gives none)."""
    if not is_instance_id(context.instance):
        raise refuse(NAME, operation, "a Lodgify poll runs per connection")
    try:
        answer = api_for(context.calls).get(context.instance, operation, path, params)
    except NoCredentials as error:
        raise refuse(NAME, operation, f"the connection's credentials: {error}") from None
    if isinstance(answer, list):
        items, count = answer, None
    elif isinstance(answer, dict) and isinstance(answer.get("items", []), list):
        items, count = answer.get("items") or [], answer.get("count")
    else:
        raise call_failed(NAME, operation, status=200, message="no items list", retryable=False)
    if len(items) > PAGE_SIZE:
        raise call_failed(
            NAME, operation, status=200, message=f"a page of {len(items)} items over {PAGE_SIZE}",
            retryable=False,
        )  # fmt: skip
    known = count if isinstance(count, int) and not isinstance(count, bool) else None
    return items, known


def _more(page: int, items: list[Any], count: int | None) -> bool:
    if count is not None:
        return page * PAGE_SIZE < count and bool(items) and page < MAX_PAGE
    return len(items) == PAGE_SIZE and page < MAX_PAGE


def _event(
    connection: str, kind: str, event_type: str, item: object, since: str | None = None
) -> PartnerEvent:
    """`since`: the query's, put in the key of an item without an update time."""
    body = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    digest = pms.content_hash(body)
    item_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(item_id, bool) or not isinstance(item_id, (int, str)) or not str(item_id):
        event_id = pms.connection_event_id(connection, f"malformed:{digest}")
        return PartnerEvent(event_id, "malformed", body, malformed=f"a Lodgify {kind} without id")
    key = f"{kind}:{str(item_id)[: pms.MAX_ID]}:{digest}"
    if since is not None and isinstance(item, dict) and utc_time(item.get("updated_at")) is None:
        key = f"{kind}:{str(item_id)[: pms.MAX_ID]}:{since}:{digest}"
    return PartnerEvent(pms.connection_event_id(connection, key), event_type, body)


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()


def next_since(newest: str | None, started: str | None, since: str) -> str:
    """Where the next query starts: min(newest, started) - OVERLAP, never before `since`."""
    known = [t for t in (utc_time(newest), utc_time(started)) if t is not None]
    if not known:
        return since
    earliest = min(known) - OVERLAP
    floor = utc_time(since)
    return _naive(max(earliest, floor) if floor is not None else earliest)


def _newest(items: list[Any], known: str | None) -> str | None:
    """The newest `updated_at` among the items and `known`, as Lodgify wrote it."""
    candidates = [i.get("updated_at") for i in items if isinstance(i, dict)] + [known]
    timed = [(t, c) for c in candidates if isinstance(c, str) and (t := utc_time(c)) is not None]
    return max(timed)[1] if timed else None


def poll_bookings(context: PollContext, cursor: str | None) -> PollPage:
    operation = "bookings.list"
    state = _state(cursor)
    since = state.get("since")
    if utc_time(since) is None:
        days = api_for(context.calls).first_poll_days
        first = datetime.now(UTC) - timedelta(days=days)
        since = first.replace(microsecond=0, tzinfo=None).isoformat()
    assert isinstance(since, str)  # checked above
    page = _page_number(state)
    started = state.get("started") if page > 1 and utc_time(state.get("started")) else None
    if started is None:
        started = _naive(datetime.now(UTC))  # before the query's first page
    assert isinstance(started, str)  # checked above
    params = {"updatedSince": since, "page": str(page), "size": str(PAGE_SIZE),
              "includeCount": "true", "stayFilter": "All"}  # fmt: skip
    items, count = _fetch(context, operation, "/v2/reservations/bookings", params)
    events = [_event(context.instance, "booking", BOOKING_POLLED, i, since) for i in items]
    untimed = sum(1 for i in items if isinstance(i, dict) and utc_time(i.get("updated_at")) is None)
    if untimed:
        log.info("lodgify_bookings_without_update_time", connection=context.instance, count=untimed)
    newest = _newest(items, state.get("newest") if isinstance(state.get("newest"), str) else None)
    if _more(page, items, count):
        following = {"since": since, "started": started, "page": page + 1, "newest": newest}
        return PollPage(events, orjson.dumps(following).decode(), more=True)
    done = {"since": next_since(newest, started, since)}
    return PollPage(events, orjson.dumps(done).decode(), more=False)


def poll_properties(context: PollContext, cursor: str | None) -> PollPage:
    operation = "properties.list"
    page = _page_number(_state(cursor))
    params = {"page": str(page), "size": str(PAGE_SIZE)}
    items, count = _fetch(context, operation, "/v2/properties", params)
    events = [_event(context.instance, "property", PROPERTY_POLLED, item) for item in items]
    if _more(page, items, count):
        return PollPage(events, orjson.dumps({"page": page + 1}).decode(), more=True)
    return PollPage(events, "{}", more=False)  # the next run lists them again from page 1
