"""The properties poll, one run per connection: `GET /v2/properties?page=&per_page=` (meta
`current_page` / `last_page`), each property stored as its own event (`property.polled`, the
bare object) keyed `<connection>:property:<id>:<hash of its bytes>`, so an unchanged property
listed again is a duplicate and a changed one a new event.

The cursor is the next page number: a run walks the pages, and after the last one the cursor
goes back to page 1, so the next run (the schedule's) makes a full pass again. A connection
without an access token fails the page with a message naming the secret (doctor shows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent, malformed_entry
from integration_hub.connectors.hospitable import ACCESS_TOKEN, NAME, PER_PAGE, payloads
from integration_hub.connectors.hospitable.api import HospitableApi
from integration_hub.connectors.hospitable.webhook import POLLED_PROPERTY
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.partner import PollContext, PollPage

LIST = "list_properties"
MAX_PAGE = 100_000


def page_of(cursor: str | None) -> int:
    if cursor is not None and cursor.isdecimal() and 0 < int(cursor) <= MAX_PAGE:
        return int(cursor)
    return 1


def _event(connection: str, item: Any) -> PartnerEvent:
    body = orjson.dumps(item)
    listing_id = pms.bounded(item.get("id"), pms.MAX_ID) if isinstance(item, dict) else None
    if listing_id is None:
        return malformed_entry(body, "a listed property has no id")
    key = f"property:{listing_id}:{pms.content_hash(body)}"
    return PartnerEvent(pms.connection_event_id(connection, key), POLLED_PROPERTY, body)


def _number(meta: Mapping[str, Any], name: str, default: int) -> int:
    value = meta.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def fetch_properties(context: PollContext, cursor: str | None) -> PollPage:
    connection = context.instance
    calls = context.calls
    api = HospitableApi(calls.settings, calls.secrets, calls.engine)
    try:
        token = api.token(connection)
        if token is None:
            raise refuse(NAME, LIST, f"{ACCESS_TOKEN} is not set for this connection")
        page = page_of(cursor)
        per_page = max(1, min(PER_PAGE, context.max_events))
        answer = api.get(
            connection, token, "/properties", {"page": page, "per_page": per_page}, operation=LIST
        )
    finally:
        api.close()
    assert answer is not None  # not missing_ok: a 404 raised
    items = answer.get("data")
    items = items[:per_page] if isinstance(items, list) else []
    meta = payloads.part(answer, "meta")
    current = _number(meta, "current_page", page)
    last = _number(meta, "last_page", current)
    more = current < last and bool(items)
    return PollPage(
        [_event(connection, item) for item in items],
        cursor=str(current + 1) if more else "1",
        more=more,
    )
