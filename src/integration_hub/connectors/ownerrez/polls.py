"""OwnerRez's poll sources, one run per connection (`PollContext.instance`).

Bookings: `GET /v2/bookings?since_utc=<cursor>&include_guest=true` (since_utc is required:
OwnerRez's changed-since filter) answers `{items, next_page_url}`; the pages of one query are
followed through `next_page_url` (only ever on OwnerRez's own API host). The cursor is compact
JSON: `since` (the query's since_utc), `started` (when the query's first page was asked for),
`next` (the next page's path, while paging) and `newest` (the newest `updated_utc` seen).
Once a query's last page is stored the next query asks from min(newest, started) minus
`OVERLAP`: a booking changed while the hub paged may have moved to a page already read, and
its change is after `started`; `updated_utc` is not a confirmed field (pms.md §4), so without
it `started` alone decides. What comes again is the same bytes, the same id, a duplicate. A
booking without `updated_utc` is keyed with the query's since too, so a booking that changes
and changes back (A, B, A) is stored again; such bookings are counted in the log. A
connection's first poll asks HUB_OWNERREZ_FIRST_POLL_DAYS back.

Properties: `GET /v2/properties`, every page each run (a property's event is keyed by its
bytes: an unchanged one is a duplicate); the cursor holds the next page while paging.

Each event's body is OwnerRez's JSON for one booking or property (sorted keys, so the same
object always has the same bytes) under `<connection>:booking:<id>:<hash>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.outbound import call_failed, refuse
from integration_hub.connectors.ownerrez import NAME
from integration_hub.connectors.ownerrez.api import NoCredentials, api_for, api_path
from integration_hub.connectors.ownerrez.mapping import utc_time
from integration_hub.connectors.ownerrez.webhook import BOOKING_POLLED, PROPERTY_POLLED
from integration_hub.connectors.partner import PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id

log = structlog.get_logger(__name__)
OVERLAP = timedelta(minutes=5)  # clocks and commits: OwnerRez's update times vs our start


@dataclass(frozen=True, slots=True)
class BookingsCursor:
    since: str
    next: str | None = None
    newest: str | None = None
    started: str | None = None

    def dumps(self) -> str:
        values = {"since": self.since, "started": self.started, "next": self.next,
                  "newest": self.newest}  # fmt: skip
        return orjson.dumps({k: v for k, v in values.items() if v is not None}).decode()

    @classmethod
    def loads(cls, cursor: str | None, *, first_since: str) -> BookingsCursor:
        """A stored cursor; a missing or unreadable one starts over from `first_since`
        (re-fetched bookings are duplicates, nothing is lost)."""
        try:
            data = orjson.loads(cursor) if cursor else {}
        except orjson.JSONDecodeError:
            data = {}
        if not isinstance(data, dict) or utc_time(data.get("since")) is None:
            return cls(since=first_since)
        following, newest, started = data.get("next"), data.get("newest"), data.get("started")
        return cls(
            since=str(data["since"]),
            next=following if isinstance(following, str) else None,
            newest=newest if utc_time(newest) is not None else None,
            started=started if utc_time(started) is not None else None,
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _connection(context: PollContext, operation: str) -> str:
    if not is_instance_id(context.instance):
        raise refuse(NAME, operation, "an OwnerRez poll runs per connection")
    return context.instance


def _get(context: PollContext, connection: str, operation: str, path: str,
         params: dict[str, str] | None) -> dict[str, Any]:  # fmt: skip
    try:
        answer = api_for(context.calls).get(connection, operation, path, params)
    except NoCredentials as error:
        raise refuse(NAME, operation, f"the connection's credentials: {error}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("items", []), list):
        raise call_failed(NAME, operation, status=200, message="no items list", retryable=False)
    return answer


def _next_path(answer: dict[str, Any], base_url: str, operation: str) -> str | None:
    following = answer.get("next_page_url")
    if not following:
        return None
    path = api_path(str(following), base_url) if isinstance(following, str) else None
    if path is None:
        raise call_failed(
            NAME, operation, status=200, message="next_page_url is not on OwnerRez's API",
            retryable=False,
        )  # fmt: skip
    return path


def _event(
    connection: str, kind: str, event_type: str, item: object, since: str | None = None
) -> PartnerEvent:
    """`since`: the query's, put in the key of an item without an update time."""
    body = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    digest = pms.content_hash(body)
    item_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(item_id, bool) or not isinstance(item_id, (int, str)) or not str(item_id):
        # Kept dead-lettered under the connection, its bytes for whoever looks.
        event_id = pms.connection_event_id(connection, f"malformed:{digest}")
        return PartnerEvent(event_id, "malformed", body, malformed=f"an OwnerRez {kind} without id")
    key = f"{kind}:{str(item_id)[: pms.MAX_ID]}:{digest}"
    if since is not None and isinstance(item, dict) and utc_time(item.get("updated_utc")) is None:
        key = f"{kind}:{str(item_id)[: pms.MAX_ID]}:{since}:{digest}"
    return PartnerEvent(pms.connection_event_id(connection, key), event_type, body)


def next_since(newest: str | None, started: str | None, since: str) -> str:
    """Where the next query starts: min(newest, started) - OVERLAP, never before `since`."""
    known = [t for t in (utc_time(newest), utc_time(started)) if t is not None]
    if not known:
        return since
    return _iso(max(min(known) - OVERLAP, utc_time(since) or min(known) - OVERLAP))


def poll_bookings(context: PollContext, cursor: str | None) -> PollPage:
    operation = "bookings.list"
    connection = _connection(context, operation)
    api = api_for(context.calls)
    first = _iso(datetime.now(UTC) - timedelta(days=api.first_poll_days))
    state = BookingsCursor.loads(cursor, first_since=first)
    resumed = api_path(state.next, api.base_url) if state.next else None
    started = state.started if resumed is not None else None
    if resumed is not None:
        answer = _get(context, connection, operation, resumed, None)
    else:
        started = _iso(datetime.now(UTC))  # before page 1: what changes from here comes next
        params = {"since_utc": state.since, "include_guest": "true"}
        answer = _get(context, connection, operation, "/v2/bookings", params)
    items = answer.get("items") or []
    events = [_event(connection, "booking", BOOKING_POLLED, i, state.since) for i in items]
    times = [utc_time(item.get("updated_utc")) for item in items if isinstance(item, dict)]
    if untimed := sum(1 for t in times if t is None):
        log.info("ownerrez_bookings_without_update_time", connection=connection, count=untimed)
    known = [t for t in (*times, utc_time(state.newest)) if t is not None]
    newest = _iso(max(known)) if known else None
    following = _next_path(answer, api.base_url, operation)
    if following is not None:
        moving = BookingsCursor(state.since, following, newest, started)
        return PollPage(events, moving.dumps(), more=True)
    done = BookingsCursor(next_since(newest, started, state.since))
    return PollPage(events, done.dumps(), more=False)


def poll_properties(context: PollContext, cursor: str | None) -> PollPage:
    operation = "properties.list"
    connection = _connection(context, operation)
    api = api_for(context.calls)
    try:
        state = orjson.loads(cursor) if cursor else {}
    except orjson.JSONDecodeError:
        state = {}
    following = state.get("next") if isinstance(state, dict) else None
    resumed = api_path(following, api.base_url) if following else None
    if resumed is not None:
        answer = _get(context, connection, operation, resumed, None)
    else:
        answer = _get(context, connection, operation, "/v2/properties", None)
    items = answer.get("items") or []
    events = [_event(connection, "property", PROPERTY_POLLED, item) for item in items]
    following = _next_path(answer, api.base_url, operation)
    # "{}" once every page is stored: the next run lists them again from the first.
    next_cursor = orjson.dumps({"next": following} if following else {}).decode()
    return PollPage(events, next_cursor, more=following is not None)
