"""The properties poll, one run per connection: `GET /v2/properties?page=&per_page=` (meta
`last_page`), each property stored as its own event (`property.polled`, the
`{"fetched_at", "data"}` wrapper of `payloads.fetched_body`).

The cursor is `<pass>:<page>`: the pass is the unix time the pass started (so it survives a
lost cursor), the page the next one to ask for. A run walks the pages, and after the last one
the cursor starts a new pass at page 1. A property's key is
`<connection>:property:<id>:<pass>:<hash of the object>`: within a pass a retried page gives
the same ids, and each pass stores every property again, so a property changed A to B and back
to A is three events (the core keeps the newest `fetched_at`). The page asked for is the page
answered (`meta.current_page` is not trusted). A connection without an access token fails the
page with a message naming the secret (doctor shows it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent, malformed_entry
from integration_hub.connectors.hospitable import ACCESS_TOKEN, NAME, PER_PAGE, payloads
from integration_hub.connectors.hospitable.api import api_for
from integration_hub.connectors.hospitable.webhook import POLLED_PROPERTY
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.partner import PollContext, PollPage

LIST = "list_properties"
MAX_PAGE = 100_000
MAX_PASS = 10**12


def parse_cursor(cursor: str | None, now: float) -> tuple[int, int]:
    """(pass, page): a cursor that is not `<pass>:<page>` starts a new pass now."""
    pass_text, _, page_text = (cursor or "").partition(":")
    if pass_text.isdecimal() and page_text.isdecimal():
        number, page = int(pass_text), int(page_text)
        if 0 < number <= MAX_PASS and 0 < page <= MAX_PAGE:
            return number, page
    return int(now), 1


def _event(connection: str, pass_number: int, item: Any, fetched_at: datetime) -> PartnerEvent:
    listing_id = pms.bounded(item.get("id"), pms.MAX_ID) if isinstance(item, dict) else None
    if listing_id is None:
        return malformed_entry(orjson.dumps(item), "a listed property has no id")
    digest = pms.content_hash(orjson.dumps(item))
    key = f"property:{listing_id}:{pass_number}:{digest}"
    body = payloads.fetched_body(item, fetched_at)
    return PartnerEvent(pms.connection_event_id(connection, key), POLLED_PROPERTY, body)


def _number(meta: Mapping[str, Any], name: str, default: int) -> int:
    value = meta.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def fetch_properties(
    context: PollContext, cursor: str | None, *, clock: Callable[[], float] = time.time
) -> PollPage:
    connection = context.instance
    api = api_for(context.calls)
    token = api.token(connection)
    if token is None:
        raise refuse(NAME, LIST, f"{ACCESS_TOKEN} is not set for this connection")
    fetched_at = datetime.fromtimestamp(clock(), UTC)  # before the call: the answer is newer
    pass_number, page = parse_cursor(cursor, fetched_at.timestamp())
    per_page = max(1, min(PER_PAGE, context.max_events))
    answer = api.get(
        connection, token, "/properties", {"page": page, "per_page": per_page}, operation=LIST
    )
    assert answer is not None  # not missing_ok: a 404 raised
    items = answer.get("data")
    items = items[:per_page] if isinstance(items, list) else []
    last = _number(payloads.part(answer, "meta"), "last_page", page)
    more = page < last and bool(items)
    next_cursor = f"{pass_number}:{page + 1}" if more else f"{int(fetched_at.timestamp())}:1"
    return PollPage(
        [_event(connection, pass_number, item, fetched_at) for item in items],
        cursor=next_cursor,
        more=more,
    )
